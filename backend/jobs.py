"""The platform's background jobs, in one table: the embedded runner's threads and Celery's tasks, beat schedule,
wakes and queues are all generated from `JOBS` (`backend.entrypoints.runner.background_tasks`,
`backend.entrypoints.worker.tasks`).

The relayer (sign, send, track: `backend.services.relayer.loop`) is no Celery task: production runs it as its own
process per chain, `loyalty relayer run`, one leader and hot standbys; the embedded runner runs it as a thread.

Adding a job is one line here. Each job is a plain call on the container's components, so the embedded default
runs the same code paths as production.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backend.services.earning import action_imports

if TYPE_CHECKING:
    from backend.bootstrap import Container


@dataclass(frozen=True)
class Call:
    """How a job is called this time."""

    budget_s: float  # how long the call may go on while there is work (0: one unit of work)
    task: bool  # a Celery task is its own unit of work: it waits for what it started before returning


@dataclass(frozen=True)
class Job:
    name: str  # the embedded runner's name for it (thread `loyalty-<name>`, `wakes`)
    task: str | None  # the Celery task name (stable: brokers, scripts and tests send it by name); None: no task
    beat: str | None  # the Celery beat schedule entry; None: beat does not schedule it
    run: Callable[[Container, Call], bool | None]  # True when it did work (then it may run again at once)
    interval: str  # the `Settings` attribute with the idle interval in seconds
    wakes: tuple[str, ...] = ()  # jobs to run at once after a call that did work (e.g. build → dispatch)
    worker_wakes: tuple[str, ...] | None = None  # Celery's, when they differ from `wakes`
    embedded_budget_s: float = 0.0  # `Call.budget_s` in the embedded runner (its loop repeats busy jobs itself)
    worker_budget_s: float = 0.0  # `Call.budget_s` of a Celery task
    expires_from: str | None = None  # the `Settings` attribute a stale tick's expiry derives from (default interval)
    queue: str = "pipeline"  # the Celery queue (prefixed with `LOYALTY_REDIS_PREFIX`)
    embedded: bool = True  # a thread of the embedded runner

    @property
    def celery_wakes(self) -> tuple[str, ...]:
        return self.wakes if self.worker_wakes is None else self.worker_wakes


def _mint(step: str) -> Callable[[Container, Call], bool]:
    def run(container: Container, _: Call) -> bool:
        return bool(getattr(container.pipeline, step)())

    run.__name__ = f"mint_{step}"
    return run


def _relay(container: Container, _: Call) -> bool:
    return container.relayer_loop.iterate()


def _record_imports(container: Container, call: Call) -> bool:
    return action_imports.process_for(container.sessions, call.budget_s)


def _deliver_webhooks(container: Container, call: Call) -> bool:
    return container.webhook_dispatcher.run_once(wait=call.task)


def _index(container: Container, call: Call) -> bool:
    """Mirror the next range; with a budget, go on until caught up or out of time (a backfilling worker)."""
    if not container.streamer.step():
        return False
    deadline = time.monotonic() + call.budget_s
    while time.monotonic() < deadline and container.streamer.step():
        pass
    return True


def _settle_redemptions(container: Container, _: Call) -> bool:
    return bool(container.redemption_settlement.settle())


# NOTE: a built batch is signed at once and a confirmed one settled at once (`wakes`, the relayer loop's passes); the
# intervals only pace the idle checks. Waiting a poll interval at each hand-off added seconds to every action's latency.
JOBS: tuple[Job, ...] = (
    # Minting: build and settle are Celery tasks that several workers share (compare-and-set claims); stale beat
    # ticks expire after 4 settle polls. The relayer process builds too, at each new head (lazy: when lanes are free).
    Job(
        "mint-build",
        "loyalty.pipeline.build",
        "pipeline-build",
        _mint("build"),
        "pipeline_poll_s",
        wakes=("relayer",),
        worker_wakes=(),
        expires_from="pipeline_settle_poll_s",
    ),
    Job("mint-settle", "loyalty.pipeline.settle", "pipeline-settle", _mint("settle"), "pipeline_settle_poll_s"),
    # The relayer loop: track → settle → build → dispatch per new head, only while it leads its chain.
    Job("relayer", None, None, _relay, "relayer_poll_s"),
    # NOTE: no longer scheduled (the relayer process does this); registered so a broker's old messages still run
    # one step instead of crashing a worker. On their own queue: `loyalty worker -Q relayer` drains them.
    Job(
        "mint-dispatch",
        "loyalty.pipeline.dispatch",
        None,
        _mint("dispatch"),
        "relayer_poll_s",
        queue="relayer",
        embedded=False,
    ),
    Job(
        "mint-track", "loyalty.pipeline.track", None, _mint("track"), "relayer_poll_s", queue="relayer", embedded=False
    ),
    # Bulk imports (`Prefer: respond-async`): seconds of chunks per call; a busy Celery task queues itself again.
    Job(
        "action-imports",
        "loyalty.actions.imports",
        "actions-imports",
        _record_imports,
        "pipeline_poll_s",
        wakes=("mint-build",),
        worker_wakes=("action-imports",),
        embedded_budget_s=5.0,
        worker_budget_s=20.0,
    ),
    # Webhooks: fan out platform events, deliver with retries.
    Job("webhooks", "loyalty.webhooks.deliver", "webhooks-deliver", _deliver_webhooks, "webhook_poll_s"),
    # Chain mirror: a caught-up indexer waits one poll interval (live lag <= 1 block); a worker backfills 20 s.
    Job("indexer", "loyalty.indexer.step", "indexer-step", _index, "indexer_poll_s", worker_budget_s=20.0),
    # Redemptions: terminal `redeem` relay intents → confirmed (counter code) or failed (stock released).
    Job(
        "redeem-settle",
        "loyalty.redemptions.settle",
        "redemptions-settle",
        _settle_redemptions,
        "pipeline_settle_poll_s",
    ),
)
BY_NAME = {job.name: job for job in JOBS}
