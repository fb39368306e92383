"""Prometheus metrics of the relayer (module-level, registered once in the default registry)."""

from prometheus_client import Counter, Gauge, Histogram

SUBMITTED = Counter("loyalty_relayer_submitted_total", "Intents signed and handed to a node", ["chain_id", "purpose"])
REPLACEMENTS = Counter("loyalty_relayer_replacements_total", "Fee replacements of stuck transactions", ["chain_id"])
REBROADCASTS = Counter(
    "loyalty_relayer_rebroadcasts_total", "Stored raw transactions sent again (dropped, crash, reorg)", ["chain_id"]
)
BROADCAST_ERRORS = Counter(
    "loyalty_relayer_broadcast_errors_total", "eth_sendRawTransaction errors by class", ["chain_id", "kind"]
)
REVERTS = Counter("loyalty_relayer_reverts_total", "Transactions reverted at confirmation depth", ["chain_id"])
REORGS = Counter("loyalty_relayer_reorged_total", "Included transactions whose block left the chain", ["chain_id"])
DEEP_REORGS = Counter(
    "loyalty_relayer_deep_reorgs_total", "Final intents re-opened: their block left the chain", ["chain_id", "purpose"]
)
CONFIRMED = Counter("loyalty_relayer_confirmed_total", "Intents confirmed", ["chain_id", "purpose"])
FILLERS = Counter("loyalty_relayer_nonce_fillers_total", "0-value self-transfers filling unusable nonces", ["chain_id"])
FEE_PAID = Counter(
    "loyalty_relayer_fee_paid_wei_total", "Fees paid by confirmed or failed transactions, wei", ["chain_id"]
)
IN_FLIGHT = Gauge("loyalty_relayer_in_flight", "Unconfirmed transactions per hot wallet", ["chain_id", "wallet"])
BALANCE = Gauge("loyalty_relayer_wallet_balance_wei", "Native balance of each hot wallet, wei", ["chain_id", "wallet"])
WAITING = Gauge("loyalty_relayer_waiting_intents", "Queued intents held back (fee caps, no free wallet)", ["chain_id"])
BLOCKS_TO_INCLUSION = Histogram(
    "loyalty_relayer_blocks_to_inclusion",
    "Blocks between the first broadcast and inclusion",
    ["chain_id"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 50, 100),
)
