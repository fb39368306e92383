"""Prometheus metrics of the minting pipeline (default registry, served by `GET /metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PENDING_CREDIT = Gauge("loyalty_pending_credit", "Credit rows waiting for a batch (state pending)")
BATCHED_CREDIT = Gauge("loyalty_batched_credit", "Credit rows in a batch that is not settled yet")
BATCH_SIZE = Histogram(
    "loyalty_batch_size",
    "Recipients (transfers) per built batch",
    buckets=(1, 5, 10, 25, 50, 100, 200, 300, 500, 750, 1000, 2000),
)
GAS_PER_RECIPIENT = Histogram(
    "loyalty_gas_per_recipient",
    "Gas used per recipient of a confirmed batch",
    buckets=(5_000, 7_500, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 60_000, 100_000),
)
FEE_PAID_WEI = Counter("loyalty_fee_paid_wei_total", "Fees paid for confirmed batch mints, wei")
ACTION_TO_CONFIRMED = Histogram(
    "loyalty_action_to_confirmed_seconds",
    "Time from a credit entering the outbox to its batch being confirmed",
    buckets=(1, 2, 4, 6, 8, 10, 15, 20, 30, 60, 120, 300, 900),
)
BACKPRESSURE = Counter(
    "loyalty_build_backpressure_total", "Build calls that found pending credit but no free sending lane"
)
BATCHES = Counter("loyalty_batches_total", "Batches by outcome", ["outcome"])  # built|confirmed|failed|landed_earlier
REVERTS = Counter("loyalty_batch_reverts_total", "Batch mints that failed on chain", ["error"])
ALERTS = Counter("loyalty_operator_alerts_total", "Operator alerts raised", ["kind"])
