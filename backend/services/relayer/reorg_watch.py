"""Looks back at final intents: a reorg deeper than the confirmation depth can remove a block after we called it
final. Such an intent is re-opened (`confirmed`/`failed` → `submitted`) and its nonce is sent again, so the wallet's
later nonces can mine and the consumer (batch or redemption settlement) learns the outcome once more.

NOTE: a reverted transaction changed nothing but its nonce, and its consumer already gave up on it (credit back to
pending, offer restocked): re-sending the same bytes could now succeed and act twice. A re-opened reverted intent
therefore gets a cancellation (a self-transfer at its nonce) instead; a confirmed one gets its own bytes again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.chain.client import ChainClient
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.relayer import FILLER_PURPOSE, TERMINAL_STATES, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.attempts import live_attempts
from backend.services.relayer.chain_reads import ChainReads
from backend.services.relayer.config import RelayerConfig
from backend.services.relayer.store import RelayStore

log = logging.getLogger("loyalty.relayer")
REOPENED_REASON = "block {number} was reorganized away after confirmation; sending the transaction again"


@dataclass(frozen=True, order=True)
class Watched:
    """A block that holds final intents of ours."""

    number: int
    hash: str


class ReorgWatch:
    """One chain's look-back: one batched block-hash read per `reorg_watch_every_s`, whatever the intent count."""

    def __init__(self, *, store: RelayStore, chain: ChainClient, config: RelayerConfig, label: str) -> None:
        self.store = store
        self.chain_id = chain.chain_id
        self.config = config
        self.label = label
        self.reads = ChainReads(chain)
        self._checked_at: float | None = None

    def check(self, head: int) -> int:
        """Re-open the final intents whose block left the canonical chain; how many were re-opened."""
        if self.config.reorg_watch_blocks <= 0:
            return 0
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < self.config.reorg_watch_every_s:
            return 0
        self._checked_at = now
        watched = self._watched(head)
        if not watched:
            return 0
        canonical = self.reads.block_hashes([w.number for w in watched])
        return sum(self._reopen(w, head) for w in watched if canonical.get(w.number) != w.hash)

    def _watched(self, head: int) -> list[Watched]:
        """The distinct blocks of our final intents in the window: one row per block, however many intents."""
        # NOTE: blocks above the head read this pass are skipped, not taken as gone: a lagging node behind a load
        # balancer answers "no block" there, and that is no reorg.
        low = head - self.config.reorg_watch_blocks + 1
        with self.store.uow() as uow:
            rows = uow.session.execute(
                select(RelayIntent.block_number, RelayIntent.block_hash)
                .where(
                    RelayIntent.chain_id == self.chain_id,
                    RelayIntent.block_number >= low,
                    RelayIntent.block_number <= head,
                    RelayIntent.state.in_(TERMINAL_STATES),
                    RelayIntent.block_hash.is_not(None),
                )
                .distinct()
            ).tuples()
            return sorted(Watched(int(n), str(h)) for n, h in rows if n is not None and h is not None)

    def _reopen(self, block: Watched, head: int) -> int:
        """Re-open every final intent in a block that left the chain, in one transaction, in nonce order."""
        with self.store.writing() as uow:
            s = uow.session
            intents = s.scalars(
                select(RelayIntent)
                .where(
                    RelayIntent.chain_id == self.chain_id,
                    RelayIntent.block_number == block.number,
                    RelayIntent.block_hash == block.hash,
                    RelayIntent.state.in_(TERMINAL_STATES),
                )
                .order_by(RelayIntent.wallet, RelayIntent.nonce)
                .with_for_update()
            ).all()  # none left: another relayer process re-opened them first
            for intent in intents:
                self._reset(s, intent, block, head)
            uow.commit()
        return len(intents)

    def _reset(self, s: Session, intent: RelayIntent, watched: Watched, head: int) -> None:
        reverted = intent.state == "failed"
        log.warning(
            "relay deep reorg intent=%s:%s nonce=%s tx=%s: %s block %s (%s) left the canonical chain",
            intent.purpose,
            intent.ref,
            intent.nonce,
            intent.tx_hash,
            intent.state,
            watched.number,
            watched.hash,
        )
        metrics.DEEP_REORGS.labels(self.label, intent.purpose).inc()
        intent.state, intent.error = "submitted", None
        intent.block_number = intent.block_hash = intent.gas_used = None
        intent.effective_gas_price = intent.fee_paid_wei = None
        intent.included_at = intent.confirmed_at = None
        intent.waiting_reason = REOPENED_REASON.format(number=watched.number)
        intent.reorgs, intent.reorged_at = (intent.reorgs or 0) + 1, utcnow()
        # the consumer settles it again (fillers have none); a reverted one is cancelled (see the module NOTE)
        intent.settled = intent.purpose == FILLER_PURPOSE
        if reverted and intent.purpose != FILLER_PURPOSE:
            intent.cancel_requested = True
        attempts = live_attempts(s, intent.id)
        if attempts and attempts[-1].status == "sent":
            # NOTE: the replacement clock restarts: the same bytes go out first, a fee bump only if they then stall
            attempts[-1].sent_at_block = head
