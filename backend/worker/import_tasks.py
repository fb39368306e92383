"""Celery task for bulk action imports: the same `action_imports.process_for` the embedded runner calls."""

from __future__ import annotations

import threading

from celery.signals import worker_process_shutdown

from backend.bootstrap import Container, bootstrap
from backend.services import action_imports
from backend.worker.celery_app import app

BUDGET_S = 20.0  # one task records for at most this long, then hands over (the beat tick re-queues it)
_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """One container per worker process, built after fork."""
    global _container
    with _lock:
        if _container is None:
            _container = bootstrap(run_migrations=False, deploy=False)
        return _container


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _container is not None:
        _container.close()


@app.task(name="loyalty.actions.imports")
def record_imports() -> bool:
    """Record waiting imports chunk by chunk; several workers share the work (a brand's imports stay in order)."""
    busy = action_imports.process_for(container().sessions, BUDGET_S)
    if busy:  # more may wait: go on now rather than at the next beat tick
        record_imports.delay()
    return busy
