"""The embedded runner: API, minting pipeline and indexer in one process around one container.

Background work is a list of `PeriodicTask`s, each a plain service call run in its own thread, generated from the
job table `backend.jobs.JOBS`; Celery's tasks come from the same table, so the embedded default exercises the
production code paths.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.bootstrap import Container
from backend.jobs import JOBS, Call, Job

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
    """A thread's task for every embedded job of `backend.jobs.JOBS` (the relayer loop, build, settle, imports,
    webhooks, indexer, ...)."""

    def call(job: Job) -> Callable[[], bool | None]:
        return lambda: job.run(container, Call(job.embedded_budget_s, task=False))

    return [
        PeriodicTask(job.name, float(getattr(container.settings, job.interval)), call(job), job.wakes)
        for job in JOBS
        if job.embedded
    ]
