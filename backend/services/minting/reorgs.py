"""Deep reorgs after settlement: the relayer re-opened the intent of a batch we had settled (its block left the
canonical chain, see `backend.services.relayer.reorg_watch`). The batch's settlement is undone exactly: credit
`minted` → `batched`, holder knowledge it taught forgotten, the batch back to `submitted`; the relayer sends the
transaction again and the normal settle step mints the credit (or releases it) once the intent is final again.

A `batch.confirmed` webhook that already went out cannot be recalled: brands get `batch.reorged`, and a new
`batch.confirmed` once it lands again.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import BatchItem, CreditOutbox, MintBatch
from backend.services.minting.alerts import raise_alert
from backend.services.minting.builder import PURPOSE
from backend.services.minting.holders import HolderKnowledge
from backend.services.minting.runs import RUN_PURPOSE
from backend.services.notifications.events import record_batch_reorged

log = logging.getLogger("loyalty.minting.settlement")
REORGED_REASON = "the block holding this reward was reorganized away; it is being sent again"


class BatchReorgs:
    def __init__(self, sessions: sessionmaker[Session], holders: HolderKnowledge) -> None:
        self.sessions = sessions
        self.holders = holders

    def unwind(self) -> list[str]:
        """Undo the settlement of confirmed batches whose intent was re-opened; the batch ids."""
        # NOTE: a confirmed batch whose intent is unsettled again can only come from a re-open (the settle step
        # flips `settled` and the batch state in one transaction); it may even be confirmed again already.
        with UnitOfWork(self.sessions) as uow:
            rows = uow.session.execute(
                text(
                    "SELECT b.batch_id, i.purpose, i.ref FROM relay_intents i JOIN mint_batches b"
                    " ON (i.purpose = :purpose AND b.batch_id = i.ref) OR (i.purpose = :run AND b.run_ref = i.ref)"
                    " WHERE i.purpose IN (:purpose, :run) AND i.settled = :no AND i.reorgs > 0"
                    " AND b.state = 'confirmed' ORDER BY i.id, b.batch_id"
                ),
                {"purpose": PURPOSE, "run": RUN_PURPOSE, "no": False},
            ).all()
        return [batch_id for batch_id, purpose, ref in rows if self._unwind_one(batch_id, purpose, ref)]

    def _unwind_one(self, batch_id: str, purpose: str = PURPOSE, ref: str | None = None) -> bool:
        with UnitOfWork(self.sessions) as uow:
            s = uow.session
            # NOTE: the intent row first, as the settle step locks it (claim, then batch): no deadlock, and a
            # settler that claimed it in between undoes the batch itself (`undo` from `_settle_one`)
            unsettled = s.execute(
                text(
                    "UPDATE relay_intents SET reorgs = reorgs WHERE purpose = :purpose AND ref = :ref"
                    " AND settled = :no AND reorgs > 0"
                ),
                {"purpose": purpose, "ref": ref or batch_id, "no": False},
            ).rowcount  # type: ignore[attr-defined]
            batch = s.get(MintBatch, batch_id, with_for_update=True, populate_existing=True)
            if unsettled != 1 or batch is None or batch.state != "confirmed":
                return False  # another settler got there first
            self.undo(s, batch)
            uow.commit()
        return True

    def undo(self, s: Session, batch: MintBatch) -> None:
        """Reverse what confirming the batch wrote, in the caller's transaction (the batch row locked)."""
        batch_id = batch.batch_id
        block_number, block_hash = batch.block_number, batch.block_hash
        now = utcnow()
        credits = s.execute(
            update(CreditOutbox)
            .where(CreditOutbox.batch_id == batch_id, CreditOutbox.state == "minted")
            .values(state="batched", reason=REORGED_REASON[:200], updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        wallets = s.scalars(select(BatchItem.wallet).where(BatchItem.batch_id == batch_id).distinct())
        self.holders.forget(s, batch.chain_id, batch.token_address, wallets)
        record_batch_reorged(s, batch, block_number, block_hash)
        batch.state, batch.reason, batch.updated_at = "submitted", REORGED_REASON, now
        batch.block_number = batch.block_hash = batch.confirmed_at = None
        batch.gas_used = batch.fee_paid_wei = None
        raise_alert(
            s,
            "deep-reorg",
            f"batch {batch_id} of token {batch.token_address} was confirmed in block {block_number}"
            f" ({block_hash}, tx {batch.tx_hash}), which left the canonical chain: {credits} credits back to"
            " batched, the transaction is sent again",
            batch_id=batch_id,
            severity="critical",
        )
        log.warning("batch %s un-settled: block %s was reorganized away", batch_id, block_number)
