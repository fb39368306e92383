"""The Celery app delivers at least once and schedules every pipeline step."""

from __future__ import annotations

from backend.entrypoints.worker.celery_app import STEP_TASKS, app


def test_tasks_survive_a_dying_worker_and_take_one_message_at_a_time() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_beat_schedules_every_step_and_each_task_is_registered() -> None:
    import backend.entrypoints.worker.tasks  # noqa: F401 - registers the tasks

    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert set(STEP_TASKS.values()) <= scheduled
    assert set(STEP_TASKS.values()) <= set(app.tasks)


def test_beat_schedules_bulk_imports_and_the_task_is_registered() -> None:
    import backend.entrypoints.worker.tasks  # noqa: F401 - registers the tasks

    assert app.conf.beat_schedule["actions-imports"]["task"] == "loyalty.actions.imports"
    assert "loyalty.actions.imports" in app.tasks
