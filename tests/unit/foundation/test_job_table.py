"""One job table: the embedded runner's threads and Celery's tasks and beat schedule are generated from it."""

from __future__ import annotations

from typing import cast
from unittest.mock import MagicMock

import pytest

from backend.bootstrap import Container
from backend.config import Settings
from backend.entrypoints.runner import background_tasks
from backend.entrypoints.worker import tasks
from backend.entrypoints.worker.celery_app import app, settings
from backend.jobs import JOBS

TASK_NAMES = {
    "mint-build": "loyalty.pipeline.build",
    "mint-dispatch": "loyalty.pipeline.dispatch",
    "mint-track": "loyalty.pipeline.track",
    "mint-settle": "loyalty.pipeline.settle",
    "action-imports": "loyalty.actions.imports",
    "webhooks": "loyalty.webhooks.deliver",
    "indexer": "loyalty.indexer.step",
    "redeem-settle": "loyalty.redemptions.settle",
}


def test_every_job_keeps_its_celery_task_name_and_is_registered() -> None:
    assert {job.name: job.task for job in JOBS} == TASK_NAMES
    assert set(TASK_NAMES.values()) <= set(app.tasks)
    assert {name: t.name for name, t in tasks.TASKS.items()} == TASK_NAMES
    assert "loyalty.pipeline.step" in app.tasks


def test_beat_ticks_every_job_at_its_interval_and_drops_stale_ticks() -> None:
    s = settings
    fast, slow = s.pipeline_poll_s, s.pipeline_settle_poll_s
    expected = {
        "pipeline-build": (fast, 4 * slow),
        "pipeline-dispatch": (fast, 4 * slow),
        "pipeline-track": (slow, 4 * slow),
        "pipeline-settle": (slow, 4 * slow),
        "actions-imports": (fast, 4 * fast),
        "webhooks-deliver": (s.webhook_poll_s, 4 * s.webhook_poll_s),
        "indexer-step": (s.indexer_poll_s, 4 * s.indexer_poll_s),
        "redemptions-settle": (slow, 4 * slow),
    }
    schedule = app.conf.beat_schedule
    assert set(schedule) == set(expected)
    for entry, (interval, expires) in expected.items():
        assert schedule[entry]["schedule"] == interval
        assert schedule[entry]["options"]["expires"] == max(5.0, expires)
        assert app.amqp.router.route({}, schedule[entry]["task"])["queue"].name == f"{s.redis_prefix}pipeline"


def test_the_runner_has_a_thread_per_job_with_the_same_wakes() -> None:
    s = Settings(env="test")  # type: ignore[call-arg]
    container = cast(Container, MagicMock(settings=s))
    threads = {t.name: t for t in background_tasks(container)}
    assert list(threads) == [job.name for job in JOBS]
    assert threads["mint-build"].wakes == ("mint-dispatch",) and threads["mint-track"].wakes == ("mint-settle",)
    assert threads["action-imports"].wakes == ("mint-build",)
    assert threads["indexer"].interval_s == s.indexer_poll_s
    assert threads["webhooks"].interval_s == s.webhook_poll_s


def test_a_busy_celery_task_wakes_what_today_s_tasks_woke(monkeypatch: pytest.MonkeyPatch) -> None:
    woken = {job.name: job.celery_wakes for job in JOBS if job.celery_wakes}
    assert woken == {
        "mint-build": ("mint-dispatch",),
        "mint-track": ("mint-settle",),
        "action-imports": ("action-imports",),
    }
    fake = MagicMock()
    fake.pipeline.build.return_value = True
    monkeypatch.setattr(tasks, "worker_container", lambda: fake)
    delays: list[str] = []
    for name in ("mint-dispatch", "mint-build"):
        monkeypatch.setattr(tasks.TASKS[name], "delay", lambda name=name: delays.append(name))
    assert tasks.TASKS["mint-build"]() is True
    assert delays == ["mint-dispatch"]
    fake.pipeline.build.return_value = False
    assert tasks.TASKS["mint-build"]() is False
    assert delays == ["mint-dispatch"]
