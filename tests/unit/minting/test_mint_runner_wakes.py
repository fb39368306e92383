"""The embedded runner hands work on at once: a build that did work wakes dispatch, a track wakes settle."""

from __future__ import annotations

import threading
from typing import Any

from backend.entrypoints.runner import EmbeddedRunner, PeriodicTask

HOUR = 3600.0  # an idle interval no test waits for: only a wake-up can run the task again


def test_a_task_that_did_work_wakes_its_followers_before_their_interval() -> None:
    built = threading.Event()
    dispatched = threading.Event()
    calls: list[str] = []

    def build() -> bool:
        calls.append("build")
        if built.is_set():
            return False
        built.set()  # one batch built, then nothing
        return True

    def dispatch() -> bool:
        calls.append("dispatch")
        if built.is_set():  # a call that started after the batch existed: it would sign it
            dispatched.set()
        return False

    container: Any = None  # the runner only hands it to tasks; these need none
    runner = EmbeddedRunner(
        container,
        [PeriodicTask("build", HOUR, build, wakes=("dispatch",)), PeriodicTask("dispatch", HOUR, dispatch)],
    )
    runner.start()
    try:
        assert dispatched.wait(30), f"dispatch was not woken by the build: {calls}"
    finally:
        runner.stop()
    assert runner.errors == {}


def test_idle_tasks_wake_nobody_and_stop_promptly() -> None:
    calls: list[str] = []
    container: Any = None
    runner = EmbeddedRunner(
        container,
        [
            PeriodicTask("build", HOUR, lambda: calls.append("build") and False, wakes=("dispatch",)),
            PeriodicTask("dispatch", HOUR, lambda: calls.append("dispatch") and False),
        ],
    )
    runner.start()
    runner.stop()  # wakes the sleepers so they exit instead of sleeping out their hour
    assert all(not t.is_alive() for t in runner._threads)
    assert sorted(calls) == ["build", "dispatch"]
