"""Production wiring: Celery beat ticks the webhook task, and the embedded runner runs the same dispatcher."""

from __future__ import annotations

from backend.entrypoints.worker import tasks
from backend.entrypoints.worker.celery_app import app


def test_beat_schedules_webhook_deliveries() -> None:
    assert "backend.entrypoints.worker.tasks" in app.conf.include
    entry = app.conf.beat_schedule["webhooks-deliver"]
    assert entry["task"] == "loyalty.webhooks.deliver" == tasks.TASKS["webhooks"].name
    assert entry["options"]["expires"] >= 5.0  # stale ticks are dropped, never piled up
