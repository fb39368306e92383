"""Celery task for the chain indexer: the same `Streamer.step` the embedded runner calls, on a beat schedule."""

from __future__ import annotations

import time

from backend.worker.celery_app import app
from backend.worker.container import worker_container

TASK_BUDGET_S = 20.0  # a backfilling worker keeps going this long per tick, then yields to other tasks


@app.task(name="loyalty.indexer.step")
def step() -> bool:
    """Mirror ranges until caught up or out of budget; True if it did any work."""
    c = worker_container()
    deadline = time.monotonic() + TASK_BUDGET_S
    worked = False
    while time.monotonic() < deadline and c.streamer.step():
        worked = True
    return worked
