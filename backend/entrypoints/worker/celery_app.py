"""Celery application: Redis broker from `LOYALTY_REDIS_URL`, at-least-once delivery, beat schedule.

Run a worker and the scheduler (or `loyalty worker` / `loyalty beat`)::

    celery -A backend.entrypoints.worker.celery_app worker --loglevel INFO --concurrency 2
    celery -A backend.entrypoints.worker.celery_app beat --loglevel INFO

Delivery is at least once (`acks_late`, `task_reject_on_worker_lost`): a task whose worker dies is delivered
again, which is harmless because every pipeline step is idempotent and claims work with compare-and-set.
"""

from __future__ import annotations

from celery import Celery

from backend.config import get_settings
from backend.jobs import JOBS

settings = get_settings()
broker = settings.redis_url or "redis://127.0.0.1:6379/0"
# The pipeline steps' task names by step (`loyalty pipeline step` names), from the job table.
STEP_TASKS = {job.name.removeprefix("mint-"): job.task for job in JOBS if job.name.startswith("mint-") and job.task}

app = Celery("loyalty", broker=broker, include=["backend.entrypoints.worker.tasks"])  # every job's task, from `JOBS`
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue=f"{settings.redis_prefix}pipeline",
    task_routes={job.task: {"queue": f"{settings.redis_prefix}{job.queue}"} for job in JOBS if job.task},
    broker_transport_options={"global_keyprefix": settings.redis_prefix, "visibility_timeout": 300},
    broker_connection_retry_on_startup=True,
    task_time_limit=300,
    # NOTE: a tick that arrives after the next one is already queued is pointless; drop stale ticks.
    beat_schedule={
        job.beat: {
            "task": job.task,
            "schedule": getattr(settings, job.interval),
            "options": {"expires": max(5.0, 4 * getattr(settings, job.expires_from or job.interval))},
        }
        for job in JOBS
        if job.task and job.beat
    },
    timezone="UTC",
)
celery_app = app
