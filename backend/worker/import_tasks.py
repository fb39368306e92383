"""Celery task for bulk action imports: the same `action_imports.process_for` the embedded runner calls."""

from __future__ import annotations

from backend.services import action_imports
from backend.worker.celery_app import app
from backend.worker.container import worker_container

BUDGET_S = 20.0  # one task records for at most this long, then hands over (the beat tick re-queues it)


@app.task(name="loyalty.actions.imports")
def record_imports() -> bool:
    """Record waiting imports chunk by chunk; several workers share the work (a brand's imports stay in order)."""
    busy = action_imports.process_for(worker_container().sessions, BUDGET_S)
    if busy:  # more may wait: go on now rather than at the next beat tick
        record_imports.delay()
    return busy
