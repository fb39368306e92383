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
    GasModel,
    OutboxCredit,
    SharedGasModel,
    aggregate,
    gas_budget,
    gas_limit_for,
    plan_batch,
    should_flush,
)
from backend.domain.manifest import TransferEntry, batch_mint_calldata, encode_entries, line_leaf
from backend.domain.merkle import MerkleTree
from backend.domain.shared_mint import RunBatch
from backend.services.minting.aggregator import PendingGroup, load_pending, pending_groups
from backend.services.minting.built import BuiltBatch, Planned
from backend.services.minting.errors import BatchNotFound
from backend.services.minting.holders import HolderKnowledge
from backend.services.minting.holds import hold_unmintable, within_cap
from backend.services.minting.metrics import BACKPRESSURE, BATCH_SIZE, BATCHES
from backend.services.minting.reasons import REASONS
from backend.services.minting.runs import RUN_PURPOSE, RunBuilder, is_small
from backend.services.minting.token_views import TokenViews

log = logging.getLogger("loyalty.minting.builder")
PURPOSE = "batch_mint"
SCAN_ROWS = 20_000  # pending rows read per attempt; more wait for the next batch of the same token
BUILD_THREADS = 4  # tokens built in parallel per build step
FAILURE_BACKOFF_S = 30.0  # pause between a failed batch (not paused/cap) and the next try for its token


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
        minter: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.settings = settings
        self.relayer = relayer
        self.model = model
        self.clock = clock
        self.views = TokenViews(chain)
        self.holders = HolderKnowledge(self.views)
        self.runs = RunBuilder(self, minter, settings.shared_run_wait_s, SharedGasModel())

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
        due: list[PendingGroup] = []
        for group in groups:  # oldest credit first: earliest deadline first
            if group.chain_id != chain_id or group.token in unsent:
                continue  # another chain's deployment drains it / its last batch is not sent yet: credit joins the next
            # NOTE: cheap pre-check; whether a batch is really full needs holder knowledge (build_one)
            waited = should_flush(group.oldest, self.clock(), self.settings.batch_window_s, full=False)
            if waited or group.credits >= may_fill:
                due.append(group)
        if lanes == 0:
            BACKPRESSURE.inc()
        # Small batches (dearer alone than plain mints) share one run, which takes one lane where the run's oldest
        # member stands in the deadline order; the others take a lane each.
        small = [g for g in due if is_small(g) and self.runs.may_mint(g.token)]
        alone = [g.token for g in due if g not in small]
        run_at = due.index(small[0]) if small else len(due)
        run = bool(small) and self.runs.ready(small) and len([g for g in due[:run_at] if g not in small]) < lanes
        alone = alone[: lanes - 1 if run else lanes]
        built: list[BuiltBatch] = []
        if run:
            try:
                built = self.runs.build(chain_id, [g.token for g in small])
            except Exception:
                log.exception("building a shared run failed; its batches are retried on the next tick")
        if len(alone) <= 1:
            return built + [b for token in alone for b in self._drain(chain_id, token)]
        # Tokens never share credit rows, so their batches are built side by side (DB and RPC waits overlap).
        with ThreadPoolExecutor(max_workers=min(len(alone), BUILD_THREADS), thread_name_prefix="mint-build") as pool:
            return built + [b for batches in pool.map(lambda t: self._drain(chain_id, t), alone) for b in batches]

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

    def plan(self, session: Session, chain_id: int, token: str) -> Planned | None:
        """The batch `token` would get now (oldest pending credit first, within gas, cap and holds), if one is due.

        Holds of unmintable credit and waiting reasons are written in `session`; the caller commits."""
        lock = session.get_bind().dialect.name == "postgresql"
        credits = load_pending(session, chain_id, token, SCAN_ROWS, lock=lock)
        if not credits:
            return None
        scanned = len(credits)
        credits = hold_unmintable(session, token, credits)
        if not credits:
            return None  # the holds; the next call reads the credits behind them
        reason, room = self._blocked(session, chain_id, token, credits)
        if reason is not None:
            log.info("token %s blocked: %s", token, reason)
            return None
        credits = within_cap(session, credits, room)
        lines = aggregate(credits)
        fresh = self.holders.fresh_wallets(session, chain_id, token, {line.wallet for line in lines})
        budget = gas_budget(
            self.views.block_gas_limit(), self.settings.batch_gas_share, self.settings.batch_gas_headroom
        )
        plan = plan_batch(lines, fresh.__contains__, budget, self.settings.batch_max_recipients, self.model)
        full = plan.full or scanned >= SCAN_ROWS
        oldest = min(c.created_at for c in credits)
        if not plan.lines or not should_flush(oldest, self.clock(), self.settings.batch_window_s, full):
            return None
        return Planned(token, plan, fresh, oldest)

    def build_one(self, chain_id: int, token: str) -> BuiltBatch | None:
        """Claim and enqueue one batch of `token` if one is due; None when nothing is (or nothing was claimed)."""
        started = time.monotonic()
        with UnitOfWork(self.sessions) as uow:
            session = uow.session
            planned = self.plan(session, chain_id, token)
            if planned is None:
                uow.commit()  # holds, reasons and what was learnt about holders
                return None
            claimed = self.claim(session, chain_id, planned)
            if claimed is None:
                return None
            batch, run_batch = claimed
            gas_limit = gas_limit_for(batch.gas_limit, self.settings.batch_gas_headroom, self.model)
            calldata = batch_mint_calldata(run_batch.batch_id, run_batch.manifest_root, run_batch.entries)
            self.relayer.enqueue(  # type: ignore[attr-defined]
                session, purpose=PURPOSE, ref=batch.batch_id, to=token, data=calldata, gas_limit=gas_limit
            )
            batch = BuiltBatch(batch.batch_id, token, batch.recipients, batch.actions, gas_limit)
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

    def claim(
        self, session: Session, chain_id: int, planned: Planned, run_ref: str | None = None
    ) -> tuple[BuiltBatch, RunBatch] | None:
        """Claim the planned credit (compare-and-set `pending → batched`) into a new batch with its manifest; None
        when another builder took all of it. `BuiltBatch.gas_limit` is the model's estimate (no headroom)."""
        token, plan, fresh = planned.token, planned.plan, planned.fresh
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
            run_ref=run_ref,
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
            session.delete(row)
            session.flush()
            return None
        credits = [c for c in plan.credits if c.id in claimed]
        lines = aggregate(credits)
        n_fresh = len({line.wallet for line in lines if line.wallet in fresh})
        estimate = self.model.estimate(n_fresh, len(lines) - n_fresh)
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
        built = BuiltBatch(batch_id, token, len(lines), len(manifest), estimate, fresh=n_fresh)
        return built, RunBatch(token, bytes.fromhex(batch_id[2:]), root, entries)


def unsent_tokens(session: Session, chain_id: int) -> set[str]:
    """Tokens with a built batch (alone or in a shared run) whose mint the relayer has not signed yet."""
    alone = (RelayIntent.purpose == PURPOSE) & (RelayIntent.ref == MintBatch.batch_id)
    shared = (RelayIntent.purpose == RUN_PURPOSE) & (RelayIntent.ref == MintBatch.run_ref)
    rows = session.scalars(
        select(MintBatch.token_address)
        .join(RelayIntent, alone | shared)
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
