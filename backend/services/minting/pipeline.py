"""The minting pipeline facade: aggregate → build → dispatch → track → settle, each step idempotent.

The same `MintingPipeline` methods run as Celery tasks (`backend.entrypoints.worker.tasks`), in the embedded runner
(`backend.jobs`) and one at a time from the CLI (`loyalty pipeline step ...`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.db import UnitOfWork
from backend.config import Settings
from backend.services.minting.aggregator import PendingGroup, pending_groups
from backend.services.minting.builder import BatchBuilder
from backend.services.minting.settlement import Settlement
from backend.services.relayer import Relayer

log = logging.getLogger("loyalty.minting")
STEPS = ("aggregate", "build", "dispatch", "track", "settle")


class MintingPipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        chain: ChainClient,
        settings: Settings,
        relayer: Relayer,
        minter: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.relayer = relayer
        self.builder = BatchBuilder(sessions, chain, settings, relayer, minter=minter)
        self.settlement = Settlement(sessions, chain)

    def aggregate(self) -> list[PendingGroup]:
        with UnitOfWork(self.sessions) as uow:
            return pending_groups(uow.session)

    def build(self) -> bool:
        return bool(self.builder.build())

    def dispatch(self) -> bool:
        return bool(self.relayer.dispatch())

    def track(self) -> bool:
        busy = bool(self.relayer.track())
        self.settlement.mirror()
        return busy

    def settle(self) -> bool:
        return bool(self.settlement.settle())

    def step(self, name: str) -> bool:
        if name == "aggregate":
            return bool(self.aggregate())
        if name == "all":
            return self.run_all()
        if name not in STEPS:
            raise ValueError(f"unknown pipeline step {name!r}; one of {', '.join((*STEPS, 'all'))}")
        return bool(getattr(self, name)())

    def run_all(self) -> bool:
        busy = False
        for name in STEPS[1:]:
            busy = getattr(self, name)() or busy
        return busy
