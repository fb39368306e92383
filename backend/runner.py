"""The embedded runner: API, minting pipeline and indexer in one process around one container.

Background work is a list of `PeriodicTask`s, each a plain service call run in its own thread; the same calls
run as Celery tasks in production, so the embedded default exercises the production code paths.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.bootstrap import Container

log = logging.getLogger("loyalty.runner")


@dataclass
class PeriodicTask:
    """Calls `fn` every `interval_s`; `fn` returns True when it did work (then it runs again at once)."""

    name: str
    interval_s: float
    fn: Callable[[], bool | None]
    wakes: tuple[str, ...] = ()  # tasks to run at once after a call that did work (e.g. build → dispatch)


class EmbeddedRunner:
    def __init__(self, container: Container, tasks: list[PeriodicTask]) -> None:
        self.container = container
        self.tasks = tasks
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._wake = {task.name: threading.Event() for task in tasks}
        self.errors: dict[str, int] = {}

    def _loop(self, task: PeriodicTask) -> None:
        wake = self._wake[task.name]
        while not self._stop.is_set():
            busy = False
            wake.clear()
            try:
                busy = bool(task.fn())
            except Exception:
                self.errors[task.name] = self.errors.get(task.name, 0) + 1
                log.exception("background task %s failed; retrying", task.name)
            if busy:
                for name in task.wakes:
                    if name in self._wake:
                        self._wake[name].set()
            elif not self._stop.is_set():
                wake.wait(task.interval_s)

    def start(self) -> None:
        for task in self.tasks:
            thread = threading.Thread(target=self._loop, args=(task,), name=f"loyalty-{task.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10) -> None:
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def background_tasks(container: Container) -> list[PeriodicTask]:
    """Every background job of the platform (pipeline stages, imports, webhooks, indexer, redemptions)."""
    from backend.services.action_imports import process_for

    pipeline, settings = container.pipeline, container.settings
    fast, slow = settings.pipeline_poll_s, settings.pipeline_settle_poll_s
    return [
        # NOTE: a built batch is signed at once and a confirmed one settled at once (`wakes`); the intervals only
        # pace the idle checks. Waiting a poll interval at each hand-off added seconds to every action's latency.
        PeriodicTask("mint-build", fast, pipeline.build, wakes=("mint-dispatch",)),
        PeriodicTask("mint-dispatch", fast, pipeline.dispatch),
        PeriodicTask("mint-track", slow, pipeline.track, wakes=("mint-settle",)),
        PeriodicTask("mint-settle", slow, pipeline.settle),
        # Bulk imports (`Prefer: respond-async`): a few seconds of chunks per call, then the other tasks' turn.
        PeriodicTask("action-imports", fast, lambda: process_for(container.sessions, 5.0), wakes=("mint-build",)),
        PeriodicTask("webhooks", settings.webhook_poll_s, container.webhook_dispatcher.run_once),
        # Chain mirror: one range per call; a caught-up indexer waits one poll interval (live lag <= 1 block).
        PeriodicTask("indexer", settings.indexer_poll_s, lambda: container.streamer.step()),
        # Redemptions: terminal `redeem` relay intents → confirmed (counter code) or failed (stock released).
        PeriodicTask("redeem-settle", slow, lambda: bool(container.redemption_settlement.settle())),
    ]
