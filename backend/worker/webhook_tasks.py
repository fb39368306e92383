"""Celery task for webhook deliveries: the same `WebhookDispatcher.run_once` the embedded runner calls."""

from __future__ import annotations

import threading

from celery.signals import worker_process_shutdown

from backend.bootstrap import Container, bootstrap
from backend.services.webhooks import dispatcher_for
from backend.worker.celery_app import app

_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """One container (and so one HTTP pool) per worker process, built after fork."""
    global _container
    with _lock:
        if _container is None:
            _container = bootstrap(run_migrations=False, deploy=False)
        return _container


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _container is not None:
        dispatcher_for(_container).close()
        _container.close()


@app.task(name="loyalty.webhooks.deliver")
def deliver() -> bool:
    """Fan out new events and POST what is due; waits for this tick's POSTs (a task is the unit of work)."""
    return dispatcher_for(container()).run_once(wait=True)
