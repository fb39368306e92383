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
    "mint-settle": "loyalty.pipeline.settle",
    "mint-dispatch": "loyalty.pipeline.dispatch",  # not scheduled any more; kept for a broker's old messages
    "mint-track": "loyalty.pipeline.track",
    "action-imports": "loyalty.actions.imports",
    "webhooks": "loyalty.webhooks.deliver",
    "indexer": "loyalty.indexer.step",
    "redeem-settle": "loyalty.redemptions.settle",
}


def test_every_job_keeps_its_celery_task_name_and_is_registered() -> None:
    assert {job.name: job.task for job in JOBS if job.task} == TASK_NAMES
    assert set(TASK_NAMES.values()) <= set(app.tasks)
    assert {name: t.name for name, t in tasks.TASKS.items()} == TASK_NAMES
    assert "loyalty.pipeline.step" in app.tasks


def test_beat_ticks_every_job_at_its_interval_and_drops_stale_ticks() -> None:
    s = settings
    fast, slow = s.pipeline_poll_s, s.pipeline_settle_poll_s
    expected = {
        "pipeline-build": (fast, 4 * slow),
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


def test_the_relayer_runs_as_its_own_process_and_celery_only_keeps_its_old_task_names() -> None:
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    for name in ("loyalty.pipeline.dispatch", "loyalty.pipeline.track"):
        assert name not in scheduled and name in app.tasks
        assert app.amqp.router.route({}, name)["queue"].name == f"{settings.redis_prefix}relayer"
    assert not any(job.name == "relayer" and job.task for job in JOBS)


def test_the_runner_has_a_thread_per_job_with_the_same_wakes() -> None:
    s = Settings(env="test")  # type: ignore[call-arg]
    container = cast(Container, MagicMock(settings=s))
    threads = {t.name: t for t in background_tasks(container)}
    assert list(threads) == [job.name for job in JOBS if job.name not in ("mint-dispatch", "mint-track")]
    assert threads["mint-build"].wakes == ("relayer",)  # one loop thread signs, sends, tracks (with leadership)
    assert threads["relayer"].interval_s == s.relayer_poll_s
    assert threads["action-imports"].wakes == ("mint-build",)
    assert threads["indexer"].interval_s == s.indexer_poll_s
    assert threads["webhooks"].interval_s == s.webhook_poll_s


def test_a_busy_celery_task_wakes_only_its_own_next_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    woken = {job.name: job.celery_wakes for job in JOBS if job.celery_wakes}
    assert woken == {"action-imports": ("action-imports",)}  # the relayer process signs what build made
    fake = MagicMock()
    fake.pipeline.build.return_value = True
    monkeypatch.setattr(tasks, "worker_container", lambda: fake)
    delays: list[str] = []
    for name in ("mint-dispatch", "action-imports"):
        monkeypatch.setattr(tasks.TASKS[name], "delay", lambda name=name: delays.append(name))
    assert tasks.TASKS["mint-build"]() is True
    assert delays == []
