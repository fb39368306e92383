"""The minting pipeline facade: aggregate → build → dispatch → track → settle, each step idempotent.

The same `MintingPipeline` methods run as Celery tasks (`backend.worker.tasks`), in the embedded runner
(`pipeline_tasks`) and one at a time from the CLI (`loyalty pipeline step ...`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from backend.bootstrap import Container
from backend.services.minting.aggregator import PendingGroup, pending_groups
from backend.services.minting.builder import BatchBuilder
from backend.services.minting.errors import RelayerUnavailable
from backend.services.minting.settlement import Settlement

log = logging.getLogger("loyalty.minting")
STEPS = ("aggregate", "build", "dispatch", "track", "settle")
_lock = threading.Lock()


def relayer_for(container: Container) -> Any:
    """The container's relayer (built once per container by the relayer package)."""
    with _lock:
        if "relayer" not in container.extras:
            try:
                from backend.services.relayer import build_relayer
            except ImportError as exc:
                raise RelayerUnavailable("backend.services.relayer.build_relayer is not available") from exc
            container.extras["relayer"] = build_relayer(container)
        return container.extras["relayer"]


class MintingPipeline:
    def __init__(self, container: Container, relayer: Any) -> None:
        self.container = container
        self.relayer = relayer
        self.builder = BatchBuilder(container, relayer)
        self.settlement = Settlement(container)

    def aggregate(self) -> list[PendingGroup]:
        with self.container.uow() as uow:
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


def build_pipeline(container: Container) -> MintingPipeline:
    """One pipeline per container (cached in `container.extras`)."""
    with _lock:
        pipeline = container.extras.get("minting_pipeline")
    if pipeline is None:
        pipeline = MintingPipeline(container, relayer_for(container))
        with _lock:
            pipeline = container.extras.setdefault("minting_pipeline", pipeline)
    return pipeline  # type: ignore[no-any-return]


def pipeline_tasks(container: Container) -> list[Any]:
    """The embedded runner's periodic tasks; none (with a warning) while the relayer is not installed."""
    from backend.runner import PeriodicTask

    try:
        pipeline = build_pipeline(container)
    except RelayerUnavailable as exc:
        log.warning("minting pipeline disabled: %s", exc)
        return []
    fast, slow = container.settings.pipeline_poll_s, container.settings.pipeline_settle_poll_s
    # NOTE: a built batch is signed at once and a confirmed one settled at once (`wakes`); the intervals only
    # pace the idle checks. Waiting a poll interval at each hand-off added seconds to every action's latency.
    return [
        PeriodicTask("mint-build", fast, pipeline.build, wakes=("mint-dispatch",)),
        PeriodicTask("mint-dispatch", fast, pipeline.dispatch),
        PeriodicTask("mint-track", slow, pipeline.track, wakes=("mint-settle",)),
        PeriodicTask("mint-settle", slow, pipeline.settle),
    ]
