"""Shared runs: small brands' batches minted together through the `LoyaltyMinter`, one `mintMany` transaction.

A token's batch that alone would cost more per action than a plain `mint` (today: one recipient) does not go by
itself: it waits for company, at most `LOYALTY_SHARED_RUN_WAIT_S`, and goes in one run with the other small
batches that are due (`backend.domain.batching.run_ready`; docs/minting.md has the gas arithmetic). Each batch
keeps its own id, manifest and the token's `BatchMinted`; the run is guarded once, by its run id.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.db import UnitOfWork
from backend.adapters.orm.minting import MintBatch, MintRun, run_ref
from backend.config import Settings
from backend.domain.batching import RunMember, SharedGasModel, needs_company, run_ready
from backend.domain.shared_mint import RunBatch, mint_many_calldata, run_tree
from backend.services.minting.aggregator import PendingGroup
from backend.services.minting.built import BuiltBatch, Planned
from backend.services.minting.metrics import BATCH_SIZE, BATCHES
from backend.services.minting.token_views import TokenViews

log = logging.getLogger("loyalty.minting.runs")
RUN_PURPOSE = "mint_run"
RUN_MAX_BATCHES = 64  # token batches per run (a run of one-line batches stays far below the block's gas)
FIRST_MINT_GAS = 17_100  # a token's first mint ever: its total supply goes from zero to non-zero
MINTER_ROLE = "0x9f2df0fed2c77648de5860a4cc508cd0818c85b8b8a1ab4ceeef8d981c8956a6"  # keccak256("MINTER_ROLE")
HAS_ROLE_SELECTOR = bytes.fromhex("91d14854")  # hasRole(bytes32,address)


def is_small(group: PendingGroup) -> bool:
    """Whether a token's pending credit would cost more per action alone than plain mints (priced both ways)."""
    return needs_company(group.wallets, 0) or needs_company(0, group.wallets)


class Builder(Protocol):
    """The parts of `BatchBuilder` a run is built with."""

    sessions: sessionmaker[Session]
    settings: Settings
    relayer: object
    views: TokenViews
    clock: Callable[[], datetime]

    def plan(self, session: Session, chain_id: int, token: str) -> Planned | None: ...

    def claim(
        self, session: Session, chain_id: int, planned: Planned, run_ref: str | None = None
    ) -> tuple[BuiltBatch, RunBatch] | None: ...


class RunBuilder:
    def __init__(
        self, builder: Builder, minter: Callable[[], str | None], wait_s: float, model: SharedGasModel
    ) -> None:
        self.builder = builder
        self.minter = minter
        self.wait_s = wait_s
        self.model = model
        self._may_mint: dict[tuple[str, str], bool] = {}

    def ready(self, groups: list[PendingGroup]) -> bool:
        """Whether these small tokens' batches should go now (cheap enough together, or waited long enough)."""
        members = [RunMember(g.wallets, 0, g.oldest) for g in groups]  # NOTE: priced as new holders: the upper bound
        return run_ready(members, self.builder.clock(), self.wait_s, self.model)

    def may_mint(self, token: str) -> bool:
        """Whether there is a shared minter and it holds MINTER_ROLE on the token (tokens created before the
        minter may not: they mint alone)."""
        minter = self.minter()
        if minter is None:
            return False
        key = (token, minter)
        if not self._may_mint.get(key):
            data = HAS_ROLE_SELECTOR + bytes.fromhex(MINTER_ROLE[2:]) + bytes(12) + bytes.fromhex(minter[2:])
            try:
                self._may_mint[key] = int.from_bytes(self.builder.views.call(token, data), "big") == 1
            except Exception as exc:  # an RPC fault: the batch goes alone this time
                log.info("could not read the minter role of %s: %s", token, exc)
                return False
        return self._may_mint[key]

    def build(self, chain_id: int, tokens: list[str]) -> list[BuiltBatch]:
        """One run over the due batches of `tokens` (oldest first); the tokens the minter may not mint for are
        left to go alone. Returns the run's batches (empty when nothing was claimed)."""
        minter = self.minter()
        if minter is None:
            return []
        members = [t for t in tokens if self.may_mint(t)][:RUN_MAX_BATCHES]
        if not members:
            return []
        b = self.builder
        with UnitOfWork(b.sessions) as uow:
            s = uow.session
            planned = [p for p in (b.plan(s, chain_id, t) for t in members) if p is not None]
            if not planned:
                uow.commit()  # holds and reasons
                return []
            run = MintRun(
                run_id=_next_run_id(s), chain_id=chain_id, minter_address=minter, run_root="0x" + "00" * 32, batches=0
            )
            s.add(run)
            s.flush()
            ref = run_ref(run.run_id)
            claimed = [c for c in (b.claim(s, chain_id, p, run_ref=ref) for p in planned) if c is not None]
            if not claimed:
                return []  # rolled back: another builder took the credit
            parts = [part for _, part in claimed]
            run.run_root = "0x" + run_tree(parts).root.hex()
            run.batches = len(parts)
            firsts = _first_mints(s, chain_id, [batch.token for batch, _ in claimed])
            estimate = self.model.estimate([(x.fresh, x.recipients - x.fresh) for x, _ in claimed])
            estimate += self.model.slack + FIRST_MINT_GAS * firsts
            gas_limit = math.ceil(estimate * b.settings.batch_gas_headroom)
            b.relayer.enqueue(  # type: ignore[attr-defined]
                s,
                purpose=RUN_PURPOSE,
                ref=ref,
                to=minter,
                data=mint_many_calldata(run.run_id, parts),
                gas_limit=gas_limit,
            )
            uow.commit()
        built = [replace(batch, run_ref=ref, gas_limit=gas_limit) for batch, _ in claimed]
        for batch in built:
            BATCH_SIZE.observe(batch.recipients)
            BATCHES.labels(outcome="built").inc()
        log.info(
            "built run %s: %d token batches, %d actions, gas limit %d",
            ref,
            len(built),
            sum(x.actions for x in built),
            gas_limit,
        )
        return built


def _next_run_id(session: Session) -> int:
    """The next run id of this database (see `MintRun`); a concurrent builder taking the same id fails its commit
    on the unique constraint and builds again on its next tick."""
    last = session.scalar(select(func.max(MintRun.run_id)))
    return (secrets.randbits(40) << 8) if last is None else int(last) + 1


def _first_mints(session: Session, chain_id: int, tokens: list[str]) -> int:
    """How many of `tokens` never had a confirmed batch (their first mint writes the total supply from zero)."""
    minted = set(
        session.scalars(
            select(MintBatch.token_address)
            .where(MintBatch.chain_id == chain_id, MintBatch.token_address.in_(tokens), MintBatch.state == "confirmed")
            .distinct()
        )
    )
    return sum(1 for t in tokens if t not in minted)
