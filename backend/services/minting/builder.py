"""Build step: claim pending credit into a gas-sized batch, store its manifest and hand the mint to the relayer.

Everything happens in one transaction: the `mint_batches` row, the compare-and-set claim of the credit rows
(`pending → batched`; only rows whose update succeeded go in, so concurrent builders never share a credit), the
manifest (`batch_items`) with its Merkle root, and `relayer.enqueue(...)`. A crash before commit leaves nothing.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.db import UnitOfWork
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import BatchItem, CreditOutbox, MintBatch
from backend.adapters.orm.relayer import RelayIntent
from backend.config import Settings
from backend.domain.batching import (
    BatchPlan,
    GasModel,
    OutboxCredit,
    aggregate,
    gas_budget,
    gas_limit_for,
    plan_batch,
    should_flush,
    unmintable,
)
from backend.domain.manifest import TransferEntry, batch_mint_calldata, encode_entries, line_leaf
from backend.domain.merkle import MerkleTree
from backend.services.minting.aggregator import load_pending, pending_groups
from backend.services.minting.alerts import raise_alert
from backend.services.minting.errors import BatchNotFound
from backend.services.minting.holders import HolderKnowledge
from backend.services.minting.metrics import BACKPRESSURE, BATCH_SIZE, BATCHES
from backend.services.minting.token_views import TokenViews

log = logging.getLogger("loyalty.minting.builder")
PURPOSE = "batch_mint"
SCAN_ROWS = 20_000  # pending rows read per attempt; more wait for the next batch of the same token
BUILD_THREADS = 4  # tokens built in parallel per build step
FAILURE_BACKOFF_S = 30.0  # pause between a failed batch (not paused/cap) and the next try for its token
# What a shopper reads when their credit waits (credit_outbox.reason, at most 200 characters).
REASONS = {
    "EnforcedPause": "minting is paused for this token; credit is minted when it resumes",
    "ERC20ExceededCap": "the token's supply cap is reached; the brand must raise it before this credit is minted",
    "AccessControlUnauthorizedAccount": "the minting wallet lacks the minter role; operators are on it",
}


@dataclass(frozen=True)
class BuiltBatch:
    batch_id: str
    token: str
    recipients: int
    actions: int
    gas_limit: int


class BatchBuilder:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        chain: ChainClient,
        settings: Settings,
        relayer: object,
        *,
        model: GasModel = GasModel(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.settings = settings
        self.relayer = relayer
        self.model = model
        self.clock = clock
        self.views = TokenViews(chain)
        self.holders = HolderKnowledge(self.views)

    def build(self) -> list[BuiltBatch]:
        """Build the batches that are due (window elapsed or full) while the relayer has free sending lanes.

        Lazy, with backpressure: at most one built-but-unsent batch per token, and no more new batches than free
        lanes, so under a backlog credit stays pending and the next batch carries everything that arrived
        meanwhile (batches grow instead of queueing frozen). Tokens go earliest deadline first (oldest credit)."""
        with UnitOfWork(self.sessions) as uow:
            groups = pending_groups(uow.session)
            if not groups:
                return []
            lanes = self._free_lanes(uow.session)
            unsent = unsent_tokens(uow.session, self.chain.chain_id)
        chain_id = self.chain.chain_id
        budget = self._budget()
        may_fill = min(self.settings.batch_max_recipients, max(1, (budget - self.model.base) // self.model.existing))
        due: list[str] = []
        for group in groups:  # oldest credit first: earliest deadline first
            if group.chain_id != chain_id or group.token in unsent:
                continue  # another chain's deployment drains it / its last batch is not sent yet: credit joins the next
            # NOTE: cheap pre-check; whether a batch is really full needs holder knowledge (build_one)
            waited = should_flush(group.oldest, self.clock(), self.settings.batch_window_s, full=False)
            if waited or group.credits >= may_fill:
                due.append(group.token)
        due = due[:lanes]
        if lanes == 0 and groups:
            BACKPRESSURE.inc()
        if len(due) <= 1:
            return [b for token in due for b in self._drain(chain_id, token)]
        # Tokens never share credit rows, so their batches are built side by side (DB and RPC waits overlap).
        with ThreadPoolExecutor(max_workers=min(len(due), BUILD_THREADS), thread_name_prefix="mint-build") as pool:
            return [b for batches in pool.map(lambda t: self._drain(chain_id, t), due) for b in batches]

    def _free_lanes(self, session: Session) -> int:
        return int(self.relayer.free_lanes(session))  # type: ignore[attr-defined]

    def _drain(self, chain_id: int, token: str) -> list[BuiltBatch]:
        """One batch of `token` (the next one is built once this one is sent)."""
        try:
            batch = self.build_one(chain_id, token)
        except Exception:
            # NOTE: whatever went wrong with this token (RPC, database), the other tokens are still built;
            # credits that cannot be minted are held before this point, so this is retried next tick.
            log.exception("building a batch of token %s failed; retried on the next tick", token)
            return []
        return [] if batch is None else [batch]

    def _budget(self) -> int:
        # NOTE: the block gas limit is read live: Polygon raised it several times and never announces it here.
        share, headroom = self.settings.batch_gas_share, self.settings.batch_gas_headroom
        return gas_budget(self.views.block_gas_limit(), share, headroom, self.model.slack)

    def _blocked(
        self, session: Session, chain_id: int, token: str, credits: list[OutboxCredit]
    ) -> tuple[str | None, int | None]:
        """Why the token cannot mint right now (checked before spending gas on a doomed batch), and its cap room."""
        reason: str | None = None
        paused, room = self.views.mint_status(token)
        if paused:
            reason = REASONS["EnforcedPause"]
        elif room is not None and room < min(c.amount for c in credits):
            reason = REASONS["ERC20ExceededCap"]
        else:
            # NOTE: after an unexplained failure (role, gas, ...) wait before retrying instead of reverting in a loop
            since = utcnow() - timedelta(seconds=FAILURE_BACKOFF_S)
            recent = session.scalar(
                select(MintBatch.reason)
                .where(
                    MintBatch.chain_id == chain_id,
                    MintBatch.token_address == token,
                    MintBatch.state == "failed",
                    MintBatch.updated_at >= since,
                )
                .order_by(MintBatch.updated_at.desc())
                .limit(1)
            )
            if recent is not None and not recent.startswith(("EnforcedPause", "ERC20ExceededCap")):
                return f"retrying after a failed batch ({recent[:80]})", room
        if reason is None:
            return None, room
        session.execute(
            update(CreditOutbox)
            .where(
                CreditOutbox.state == "pending",
                CreditOutbox.chain_id == chain_id,
                CreditOutbox.token_address == token,
                (CreditOutbox.reason.is_(None)) | (CreditOutbox.reason != reason),
            )
            .values(reason=reason)
        )
        return reason, room

    def build_one(self, chain_id: int, token: str) -> BuiltBatch | None:
        """Claim and enqueue one batch of `token` if one is due; None when nothing is (or nothing was claimed)."""
        started = time.monotonic()
        with UnitOfWork(self.sessions) as uow:
            session = uow.session
            lock = session.get_bind().dialect.name == "postgresql"
            credits = load_pending(session, chain_id, token, SCAN_ROWS, lock=lock)
            if not credits:
                return None
            scanned = len(credits)
            credits = self._hold_unmintable(session, token, credits)
            if not credits:
                uow.commit()  # the holds; the next call reads the credits behind them
                return None
            reason, room = self._blocked(session, chain_id, token, credits)
            if reason is not None:
                uow.commit()
                log.info("token %s blocked: %s", token, reason)
                return None
            credits = self._within_cap(session, credits, room)
            lines = aggregate(credits)
            fresh = self.holders.fresh_wallets(session, chain_id, token, {line.wallet for line in lines})
            budget = gas_budget(
                self.views.block_gas_limit(), self.settings.batch_gas_share, self.settings.batch_gas_headroom
            )
            plan = plan_batch(lines, fresh.__contains__, budget, self.settings.batch_max_recipients, self.model)
            full = plan.full or scanned >= SCAN_ROWS
            oldest = min(c.created_at for c in credits)
            if not plan.lines or not should_flush(oldest, self.clock(), self.settings.batch_window_s, full):
                uow.commit()  # keeps what was learnt about holders
                return None
            batch = self._claim(session, chain_id, token, plan, fresh)
            if batch is None:
                return None
            uow.commit()
        BATCH_SIZE.observe(batch.recipients)
        BATCHES.labels(outcome="built").inc()
        log.info(
            "built batch %s: token %s, %d recipients, %d actions, gas limit %d, %.0f ms",
            batch.batch_id,
            token,
            batch.recipients,
            batch.actions,
            batch.gas_limit,
            (time.monotonic() - started) * 1000,
        )
        return batch

    def _within_cap(self, session: Session, credits: list[OutboxCredit], room: int | None) -> list[OutboxCredit]:
        """The credits (oldest first) that fit the token's cap room; the others wait, with the reason.

        NOTE: one credit larger than the room would revert the whole batch, again on every retry."""
        if room is None or sum(c.amount for c in credits) <= room:
            return credits
        fit: list[OutboxCredit] = []
        wait: list[int] = []
        for credit in sorted(credits, key=lambda c: (c.created_at, c.id)):
            if credit.amount <= room:
                fit.append(credit)
                room -= credit.amount
            else:
                wait.append(credit.id)
        for start in range(0, len(wait), 5000):
            session.execute(
                update(CreditOutbox)
                .where(CreditOutbox.id.in_(wait[start : start + 5000]), CreditOutbox.state == "pending")
                .values(reason=REASONS["ERC20ExceededCap"])
            )
        return fit

    def _hold_unmintable(self, session: Session, token: str, credits: list[OutboxCredit]) -> list[OutboxCredit]:
        """Quarantine (`pending → held`, reason, one operator alert) the credits no batch could carry; the rest."""
        bad = {c.id: (c, why) for c in credits if (why := unmintable(c)) is not None}
        if not bad:
            return credits
        now = utcnow()
        held: list[int] = []
        for credit, why in bad.values():
            reason = f"held: {why}; the operators were alerted"
            result = session.execute(
                update(CreditOutbox)
                .where(CreditOutbox.id == credit.id, CreditOutbox.state == "pending")
                .values(state="held", reason=reason[:200], updated_at=now)
                .returning(CreditOutbox.id)
            )
            held += result.scalars()
        if held:
            details = "; ".join(
                f"credit {i} (action {bad[i][0].action_id}, amount {str(bad[i][0].amount)[:40]}): {bad[i][1]}"
                for i in held[:3]
            )
            raise_alert(
                session,
                "credit-held",
                f"{len(held)} credit(s) of token {token} can never be minted and were held: {details}",
                severity="critical",
            )
        return [c for c in credits if c.id not in bad]

    def _claim(
        self, session: Session, chain_id: int, token: str, plan: BatchPlan, fresh: set[str]
    ) -> BuiltBatch | None:
        batch_id = "0x" + secrets.token_bytes(32).hex()  # NOTE: random: a batch id is never reused, even after failure
        now = utcnow()
        row = MintBatch(
            batch_id=batch_id,
            chain_id=chain_id,
            token_address=token,
            state="built",
            manifest_root="0x" + "00" * 32,
            recipients=0,
            total=0,
            actions=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        wanted = [c.id for c in plan.credits]
        claimed: set[int] = set()
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            result = session.execute(
                update(CreditOutbox)
                .where(CreditOutbox.id.in_(chunk), CreditOutbox.state == "pending")
                .values(state="batched", batch_id=batch_id, reason=None, updated_at=now)
                .returning(CreditOutbox.id)
            )
            claimed.update(result.scalars())
        if not claimed:
            session.rollback()
            return None
        credits = [c for c in plan.credits if c.id in claimed]
        lines = aggregate(credits)
        seen: set[str] = set()
        n_fresh = 0
        for line in lines:
            n_fresh += line.wallet not in seen and line.wallet in fresh
            seen.add(line.wallet)
        estimate = self.model.estimate(n_fresh, len(lines) - n_fresh)
        gas_limit = gas_limit_for(estimate, self.settings.batch_gas_headroom, self.model)
        manifest = [m for line in lines for m in line.manifest_lines()]
        leaves = [line_leaf(m) for m in manifest]
        root = MerkleTree(leaves).root
        entries = encode_entries(line.entry() for line in lines)
        row.manifest_root = "0x" + root.hex()
        row.recipients = len(lines)
        row.total = sum(line.amount for line in lines)
        row.actions = len(manifest)
        session.flush()
        # NOTE: Core executemany: a batch holds up to thousands of actions; ORM objects would cost seconds
        session.execute(
            insert(BatchItem),
            [
                {
                    "batch_id": batch_id,
                    "credit_outbox_id": m.credit_id,
                    "wallet": m.wallet,
                    "amount": m.amount,
                    "action_id": m.action_id,
                    "rule_id": m.rule_id,
                    "leaf_index": i,
                    "leaf": "0x" + leaf.hex(),
                    "active": True,
                }
                for i, (m, leaf) in enumerate(zip(manifest, leaves, strict=True))
            ],
        )
        calldata = batch_mint_calldata(bytes.fromhex(batch_id[2:]), root, entries)
        self.relayer.enqueue(  # type: ignore[attr-defined]
            session, purpose=PURPOSE, ref=batch_id, to=token, data=calldata, gas_limit=gas_limit
        )
        return BuiltBatch(batch_id, token, len(lines), len(manifest), gas_limit)


def unsent_tokens(session: Session, chain_id: int) -> set[str]:
    """Tokens with a built batch whose mint the relayer has not signed yet."""
    rows = session.scalars(
        select(MintBatch.token_address)
        .join(RelayIntent, (RelayIntent.purpose == PURPOSE) & (RelayIntent.ref == MintBatch.batch_id))
        .where(RelayIntent.chain_id == chain_id, RelayIntent.state == "queued")
    )
    return {str(t) for t in rows}


def rebuild_calldata(session: Session, batch_id: str) -> bytes:
    """The `batchMint` calldata of a stored batch, rebuilt from its manifest (same id, same root)."""
    items = list(
        session.scalars(select(BatchItem).where(BatchItem.batch_id == batch_id).order_by(BatchItem.leaf_index))
    )
    batch = session.get(MintBatch, batch_id)
    if batch is None or not items:
        raise BatchNotFound(f"no manifest for batch {batch_id}")
    totals: dict[str, int] = {}
    for item in items:
        totals[item.wallet] = totals.get(item.wallet, 0) + int(item.amount)
    entries = encode_entries(TransferEntry(w, a) for w, a in totals.items())
    return batch_mint_calldata(bytes.fromhex(batch_id[2:]), bytes.fromhex(batch.manifest_root[2:]), entries)
