"""Celery task for webhook deliveries: the same `WebhookDispatcher.run_once` the embedded runner calls."""

from __future__ import annotations

from backend.services.webhooks import dispatcher_for
from backend.worker.celery_app import app
from backend.worker.container import on_close, worker_container

on_close(lambda container: dispatcher_for(container).close())  # its HTTP pool, before the container


@app.task(name="loyalty.webhooks.deliver")
def deliver() -> bool:
    """Fan out new events and POST what is due; waits for this tick's POSTs (a task is the unit of work)."""
    return dispatcher_for(worker_container()).run_once(wait=True)
