"""Celery task for the chain indexer: the same `index_once` the embedded runner calls, on a beat schedule."""

from __future__ import annotations

import threading
import time

from celery.signals import worker_process_shutdown

from backend.bootstrap import Container, bootstrap
from backend.worker.celery_app import app
from indexer.service import index_once

TASK_BUDGET_S = 20.0  # a backfilling worker keeps going this long per tick, then yields to other tasks
_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """One container (and so one mirror connection and RPC client) per worker process, built after fork."""
    global _container
    with _lock:
        if _container is None:
            _container = bootstrap(run_migrations=False, deploy=False)
        return _container


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _container is not None:
        _container.close()


@app.task(name="loyalty.indexer.step")
def step() -> bool:
    """Mirror ranges until caught up or out of budget; True if it did any work."""
    c = container()
    deadline = time.monotonic() + TASK_BUDGET_S
    worked = False
    while time.monotonic() < deadline and index_once(c):
        worked = True
    return worked
