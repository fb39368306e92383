"""The Celery app delivers at least once and schedules the pipeline's build and settle steps."""

from __future__ import annotations

from backend.entrypoints.worker.celery_app import STEP_TASKS, app


def test_tasks_survive_a_dying_worker_and_take_one_message_at_a_time() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_beat_schedules_build_and_settle_and_each_step_task_is_registered() -> None:
    import backend.entrypoints.worker.tasks  # noqa: F401 - registers the tasks

    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {STEP_TASKS["build"], STEP_TASKS["settle"]} <= scheduled  # dispatch/track: `loyalty relayer run`
    assert set(STEP_TASKS.values()) <= set(app.tasks)


def test_beat_schedules_bulk_imports_and_the_task_is_registered() -> None:
    import backend.entrypoints.worker.tasks  # noqa: F401 - registers the tasks

    assert app.conf.beat_schedule["actions-imports"]["task"] == "loyalty.actions.imports"
    assert "loyalty.actions.imports" in app.tasks
