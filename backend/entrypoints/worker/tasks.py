"""Celery tasks: one per job of `backend.jobs.JOBS` that has a task name, and `loyalty.pipeline.step`."""

from __future__ import annotations

import logging
from typing import Any

from backend.entrypoints.worker.celery_app import app
from backend.entrypoints.worker.container import worker_container
from backend.jobs import JOBS, Call, Job
from backend.services.minting.pipeline import MintingPipeline

log = logging.getLogger("loyalty.worker")


def pipeline() -> MintingPipeline:
    return worker_container().pipeline


def _task(job: Job) -> Any:
    def run() -> bool:
        busy = bool(job.run(worker_container(), Call(job.worker_budget_s, task=True)))
        if busy:  # NOTE: hand over now rather than at the next beat tick (latency, not correctness)
            for name in job.celery_wakes:
                TASKS[name].delay()
        return busy

    run.__name__ = run.__qualname__ = job.name.replace("-", "_")
    run.__doc__ = f"The `{job.name}` job of `backend.jobs` as a Celery task."
    return app.task(name=job.task)(run)


TASKS: dict[str, Any] = {job.name: _task(job) for job in JOBS if job.task}


@app.task(name="loyalty.pipeline.step")
def step(name: str) -> bool:
    return pipeline().step(name)
