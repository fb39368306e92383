"""Celery task for webhook deliveries: the same `WebhookDispatcher.run_once` the embedded runner calls."""

from __future__ import annotations

from backend.worker.celery_app import app
from backend.worker.container import worker_container


@app.task(name="loyalty.webhooks.deliver")
def deliver() -> bool:
    """Fan out new events and POST what is due; waits for this tick's POSTs (a task is the unit of work)."""
    return worker_container().webhook_dispatcher.run_once(wait=True)
