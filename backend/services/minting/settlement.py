"""Settle step: turn the relayer's terminal `batch_mint` intents into minted credit (or credit back to pending).

Each intent is settled in one transaction together with our bookkeeping: `settled` flips false → true with a
compare-and-set, so two settlers never act on one intent, and a crash before commit leaves it for the next run.
A failed intent is diagnosed against the chain before any credit is released: if the batch id already holds our
manifest root, the batch DID land (e.g. a replay reverted with `BatchAlreadyMinted`) and counts as confirmed;
credit goes back to `pending` only when the transaction can never land any more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_utils import keccak, to_checksum_address
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import BatchItem, CreditOutbox, MintBatch
from backend.domain.timestamps import as_utc
from backend.services.minting.alerts import raise_alert
from backend.services.minting.builder import PURPOSE
from backend.services.minting.holders import HolderKnowledge
from backend.services.minting.metrics import (
    ACTION_TO_CONFIRMED,
    BATCHES,
    FEE_PAID_WEI,
    GAS_PER_RECIPIENT,
    REVERTS,
)
from backend.services.minting.reasons import REASONS, error_name
from backend.services.minting.reorgs import BatchReorgs
from backend.services.minting.run_settlement import RunSettlement, gas_shares, run_batches
from backend.services.minting.runs import RUN_PURPOSE
from backend.services.minting.token_views import TokenViews
from backend.services.notifications.events import record_batch_confirmed

log = logging.getLogger("loyalty.minting.settlement")
ZERO_ROOT = "0x" + "00" * 32
BATCH_MINTED_TOPIC = "0x" + keccak(text="BatchMinted(bytes32,bytes32,uint256,uint256)").hex()
INTENT_COLUMNS = (
    "id, ref, state, tx_hash, wallet, nonce, block_number, block_hash, gas_used, fee_paid_wei, error, confirmed_at"
)


@dataclass(frozen=True)
class Settled:
    batch_id: str
    outcome: str  # confirmed | landed_earlier | failed | mismatch | reorged (settlement undone, see `reorgs`)


def _row_time(value: datetime | str | None) -> datetime | None:
    """A timestamp read by raw SQL, as UTC."""
    # NOTE: raw SQL on SQLite returns timestamps as text
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _one(batch: MintBatch | None) -> list[MintBatch]:
    return [] if batch is None else [batch]


class Settlement:
    def __init__(self, sessions: sessionmaker[Session], chain: ChainClient) -> None:
        self.sessions = sessions
        self.chain = chain
        self.views = TokenViews(chain)
        self.holders = HolderKnowledge(self.views)
        self.reorgs = BatchReorgs(sessions, self.holders)
        self.runs = RunSettlement(chain, self.views)

    # ----------------------------------------------------------------- mirror (shopper view)
    def mirror(self) -> int:
        """Copy the relayer's progress (submitted/included, tx hash, waiting reason) onto unsettled batches."""
        changed = 0
        with UnitOfWork(self.sessions) as uow:
            rows = uow.session.execute(
                text(
                    "SELECT b.batch_id, i.state, i.tx_hash, i.wallet, i.nonce, i.block_number, i.block_hash,"
                    " i.submitted_at, i.waiting_reason FROM mint_batches b JOIN relay_intents i"
                    " ON (i.purpose = :purpose AND i.ref = b.batch_id) OR (i.purpose = :run AND i.ref = b.run_ref)"
                    " WHERE b.state IN ('built', 'signed', 'submitted', 'included')"
                    " AND i.state IN ('queued', 'submitted', 'included')"
                ),
                {"purpose": PURPOSE, "run": RUN_PURPOSE},
            ).all()
            for batch_id, state, tx_hash, wallet, nonce, block_number, block_hash, submitted_at, waiting in rows:
                target = {"queued": "signed" if tx_hash else "built"}.get(state, state)
                values = {
                    "state": target,
                    "tx_hash": tx_hash,
                    "wallet": wallet,
                    "nonce": nonce,
                    "block_number": block_number if state == "included" else None,
                    "block_hash": block_hash if state == "included" else None,
                    "submitted_at": _row_time(submitted_at),
                    "reason": waiting[:300] if waiting else None,
                }
                result = uow.session.execute(
                    update(MintBatch)
                    .where(
                        MintBatch.batch_id == batch_id,
                        (MintBatch.state != target)
                        | (MintBatch.tx_hash.is_distinct_from(tx_hash))
                        | (MintBatch.reason.is_distinct_from(values["reason"])),
                    )
                    .values(**values, updated_at=utcnow())
                )
                changed += result.rowcount  # type: ignore[attr-defined]
            uow.commit()
        return changed

    # ----------------------------------------------------------------- settle
    def settle(self, limit: int = 100) -> list[Settled]:
        done = [Settled(batch_id, "reorged") for batch_id in self.reorgs.unwind()]  # first: then settled again
        with UnitOfWork(self.sessions) as uow:
            intents = (
                uow.session.execute(
                    text(
                        f"SELECT {INTENT_COLUMNS}, purpose FROM relay_intents WHERE purpose IN (:purpose, :run)"
                        " AND settled = :no AND state IN ('confirmed', 'failed') ORDER BY id LIMIT :limit"
                    ),
                    {"purpose": PURPOSE, "run": RUN_PURPOSE, "no": False, "limit": limit},
                )
                .mappings()
                .all()
            )
        for intent in intents:
            done += self._settle_one(dict(intent))
        return done

    def _settle_one(self, intent: dict[str, Any]) -> list[Settled]:
        """Settle the batch of a terminal intent, or every batch of a shared run, in one transaction."""
        latencies: list[float] = []
        with UnitOfWork(self.sessions) as uow:
            session = uow.session
            claimed = session.execute(
                text("UPDATE relay_intents SET settled = :yes WHERE id = :id AND settled = :no"),
                {"yes": True, "no": False, "id": intent["id"]},
            ).rowcount  # type: ignore[attr-defined]
            if claimed != 1:
                return []  # another settler got it
            run = intent["purpose"] == RUN_PURPOSE
            batches = (
                run_batches(session, intent["ref"])
                if run
                else _one(session.get(MintBatch, intent["ref"], with_for_update=True))
            )
            if not batches:
                log.error("intent %s refers to unknown batch %s; marked settled", intent["id"], intent["ref"])
                uow.commit()
                return []
            for batch in batches:
                if batch.state == "confirmed":  # settled before, its intent re-opened by a reorg since (see `reorgs`)
                    self.reorgs.undo(session, batch)
            if any(batch.state == "failed" for batch in batches):
                # a deep reorg re-opened the intent of a batch whose credit was released already (see `reorgs`)
                for batch in batches:
                    self._settled_failed_again(session, batch, intent)
                uow.commit()
                return []
            if intent["state"] == "confirmed":
                outcome = "confirmed"
                for batch, share in zip(batches, gas_shares(batches), strict=True):
                    latencies += self._confirm(session, batch, intent, share)
            else:
                decided = (
                    self.runs.diagnose(session, batches, intent, self)
                    if run
                    else self._diagnose_failure(session, batches[0], intent)
                )
                if decided is None:
                    return []  # undecidable for now: rolled back, retried on the next run
                outcome, latencies = decided
            uow.commit()
        for _ in batches:
            BATCHES.labels(outcome=outcome).inc()
        for seconds in latencies:
            ACTION_TO_CONFIRMED.observe(seconds)
        for batch in batches:
            if outcome in ("confirmed", "landed_earlier") and batch.recipients and batch.gas_used:
                GAS_PER_RECIPIENT.observe(batch.gas_used / batch.recipients)
            if outcome == "confirmed" and batch.fee_paid_wei:
                FEE_PAID_WEI.inc(batch.fee_paid_wei)
            log.info(
                "settled batch %s: %s (tx %s, block %s)", batch.batch_id, outcome, batch.tx_hash, batch.block_number
            )
        return [Settled(batch.batch_id, outcome) for batch in batches]

    def _confirm(
        self, session: Session, batch: MintBatch, intent: dict[str, Any] | None, share: float = 1.0
    ) -> list[float]:
        """Mark the batch confirmed and its credit minted; `share` of the transaction's gas and fee is the batch's
        (a shared run's batches split them by recipients)."""
        now = utcnow()
        if intent is not None:
            batch.tx_hash = intent["tx_hash"]
            batch.wallet = intent["wallet"] or batch.wallet
            batch.nonce = intent["nonce"] if intent["nonce"] is not None else batch.nonce
            batch.block_number = intent["block_number"]
            batch.block_hash = intent["block_hash"]
            batch.gas_used = round(intent["gas_used"] * share) if intent["gas_used"] is not None else None
            fee = intent["fee_paid_wei"]
            batch.fee_paid_wei = round(int(fee) * share) if fee is not None else None
        batch.state = "confirmed"
        batch.confirmed_at = (_row_time(intent["confirmed_at"]) if intent else None) or now
        batch.reason = None
        batch.updated_at = now
        created = session.execute(
            update(CreditOutbox)
            .where(CreditOutbox.batch_id == batch.batch_id, CreditOutbox.state == "batched")
            .values(state="minted", reason=None, updated_at=now)
            .returning(CreditOutbox.created_at)
        ).scalars()
        confirmed_at = batch.confirmed_at
        latencies = [(confirmed_at - c).total_seconds() for c in (_row_time(x) for x in created) if c is not None]
        wallets = session.scalars(select(BatchItem.wallet).where(BatchItem.batch_id == batch.batch_id).distinct())
        self.holders.remember(session, batch.chain_id, batch.token_address, wallets)
        record_batch_confirmed(session, batch)  # webhooks + live feed, in this transaction
        return latencies

    def _settled_failed_again(self, session: Session, batch: MintBatch, intent: dict[str, Any]) -> None:
        if intent["state"] == "failed":
            log.info(
                "batch %s failed again after a reorg (%s): credit was released already", batch.batch_id, intent["error"]
            )
            return
        # NOTE: the relayer cancels re-opened reverted intents; only a lost race with the original bytes gets here
        raise_alert(
            session,
            "double-mint",
            f"batch {batch.batch_id} failed and its credit was rebuilt, yet after a reorg its transaction"
            f" {intent['tx_hash']} landed in block {intent['block_number']}: those credits may be minted twice",
            batch_id=batch.batch_id,
            severity="critical",
        )

    def _diagnose_failure(
        self, session: Session, batch: MintBatch, intent: dict[str, Any]
    ) -> tuple[str, list[float]] | None:
        error = intent["error"] or ""
        name = error_name(error)
        root = self.views.manifest_root(batch.token_address, batch.batch_id)
        if root != ZERO_ROOT or name == "BatchAlreadyMinted":
            if root == batch.manifest_root.lower():
                # NOTE: the batch landed through an earlier transaction; never mint it again.
                log.warning("batch %s already on chain (intent error %r): counted as confirmed", batch.batch_id, error)
                self._fill_landing_tx(batch)
                return "landed_earlier", self._confirm(session, batch, None)
            if root == ZERO_ROOT:
                # Reverted as already minted, yet no root now: the landing block was reorged out. Wait for it.
                raise_alert(session, "batch-landing-unclear", f"{error}; root now zero", batch_id=batch.batch_id)
                return None
            batch.state, batch.reason = "failed", f"chain holds another manifest root {root}"
            raise_alert(
                session,
                "manifest-mismatch",
                f"batch id {batch.batch_id} holds root {root}, ours is {batch.manifest_root}; credit left batched",
                batch_id=batch.batch_id,
                severity="critical",
            )
            return "mismatch", []
        if not self._can_never_land(batch, intent):
            log.warning("batch %s failed (%s) but its nonce is still open; settling later", batch.batch_id, error)
            return None
        REVERTS.labels(error=name).inc()
        self.release(session, batch, intent)
        return "failed", []

    def release(self, session: Session, batch: MintBatch, intent: dict[str, Any]) -> None:
        """The batch can never land: its credit goes back to pending (rebuilt into a new batch), with the reason."""
        error = intent["error"] or ""
        name = error_name(error)
        reason = REASONS.get(name, f"minting failed ({name}); it is retried automatically")
        now = utcnow()
        session.execute(
            update(CreditOutbox)
            .where(CreditOutbox.batch_id == batch.batch_id, CreditOutbox.state == "batched")
            .values(state="pending", batch_id=None, reason=reason[:200], updated_at=now)
        )
        session.execute(update(BatchItem).where(BatchItem.batch_id == batch.batch_id).values(active=False))
        wallets = session.scalars(select(BatchItem.wallet).where(BatchItem.batch_id == batch.batch_id).distinct())
        self.holders.forget(session, batch.chain_id, batch.token_address, wallets)  # it may have run out of gas
        batch.state, batch.reason, batch.updated_at = "failed", (error or "failed")[:300], now
        batch.tx_hash = intent["tx_hash"]
        raise_alert(
            session,
            "batch-failed",
            f"batch {batch.batch_id} of token {batch.token_address} failed: {error or 'no error given'};"
            f" {batch.actions} credits back to pending",
            batch_id=batch.batch_id,
        )

    def _can_never_land(self, batch: MintBatch, intent: dict[str, Any]) -> bool:
        return self.can_never_land(
            intent, lambda: self.views.manifest_root(batch.token_address, batch.batch_id) != ZERO_ROOT
        )

    def can_never_land(self, intent: dict[str, Any], landed: Callable[[], bool]) -> bool:
        """True when the transaction reverted in a block, was never signed, or its nonce went elsewhere."""
        if intent["block_number"] is not None or intent["nonce"] is None or not intent["wallet"]:
            return True
        # NOTE: nonce first, landing second: a nonce used at `latest` with still nothing landed: another tx took it.
        used = self.chain.w3.eth.get_transaction_count(to_checksum_address(intent["wallet"]), "latest")
        return used > int(intent["nonce"]) and not landed()

    def _fill_landing_tx(self, batch: MintBatch) -> None:
        if batch.tx_hash and batch.block_number is not None:
            return
        try:
            head = self.chain.head()
            logs = self.chain.w3.eth.get_logs(
                {
                    "address": to_checksum_address(batch.token_address),
                    "topics": [BATCH_MINTED_TOPIC, batch.batch_id],  # type: ignore[list-item]
                    "fromBlock": max(0, head - 10_000),
                    "toBlock": head,
                }
            )
        except Exception as exc:  # best effort: the mint is proven by the root already
            log.info("could not find the landing tx of %s: %s", batch.batch_id, exc)
            return
        if logs:
            batch.tx_hash = logs[0]["transactionHash"].to_0x_hex()
            batch.block_number = int(logs[0]["blockNumber"])
            batch.block_hash = logs[0]["blockHash"].to_0x_hex()
