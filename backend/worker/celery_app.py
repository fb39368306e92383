"""Celery application: Redis broker from `LOYALTY_REDIS_URL`, at-least-once delivery, beat schedule.

Run a worker and the scheduler (or `loyalty worker` / `loyalty beat`)::

    celery -A backend.worker.celery_app worker --loglevel INFO --concurrency 2
    celery -A backend.worker.celery_app beat --loglevel INFO

Delivery is at least once (`acks_late`, `task_reject_on_worker_lost`): a task whose worker dies is delivered
again, which is harmless because every pipeline step is idempotent and claims work with compare-and-set.
"""

from __future__ import annotations

from celery import Celery

from backend.config import get_settings

settings = get_settings()
broker = settings.redis_url or "redis://127.0.0.1:6379/0"
STEP_TASKS = {
    "build": "loyalty.pipeline.build",
    "dispatch": "loyalty.pipeline.dispatch",
    "track": "loyalty.pipeline.track",
    "settle": "loyalty.pipeline.settle",
}

app = Celery("loyalty", broker=broker, include=["backend.worker.tasks", "backend.worker.indexer_tasks"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue=f"{settings.redis_prefix}pipeline",
    broker_transport_options={"global_keyprefix": settings.redis_prefix, "visibility_timeout": 300},
    broker_connection_retry_on_startup=True,
    task_time_limit=300,
    # NOTE: a tick that arrives after the next one is already queued is pointless; drop stale ticks.
    beat_schedule={
        f"pipeline-{step}": {
            "task": name,
            "schedule": settings.pipeline_poll_s if step in ("build", "dispatch") else settings.pipeline_settle_poll_s,
            "options": {"expires": max(5.0, 4 * settings.pipeline_settle_poll_s)},
        }
        for step, name in STEP_TASKS.items()
    },
    timezone="UTC",
)
# Chain indexer (backend/worker/indexer_tasks.py): each tick mirrors new blocks; stale ticks expire.
app.conf.beat_schedule["indexer-step"] = {
    "task": "loyalty.indexer.step",
    "schedule": settings.indexer_poll_s,
    "options": {"expires": max(5.0, 4 * settings.indexer_poll_s)},
}
celery_app = app
# Webhook deliveries (backend/worker/webhook_tasks.py): fan out platform events, POST what is due.
app.conf.include = [*app.conf.include, "backend.worker.webhook_tasks"]
app.conf.beat_schedule["webhooks-deliver"] = {
    "task": "loyalty.webhooks.deliver",
    "schedule": settings.webhook_poll_s,
    "options": {"expires": max(5.0, 4 * settings.webhook_poll_s)},
}
# Gasless redemptions (backend/worker/redemption_tasks.py): settle terminal `redeem` relay intents.
app.conf.include = [*app.conf.include, "backend.worker.redemption_tasks"]
app.conf.beat_schedule["redemptions-settle"] = {
    "task": "loyalty.redemptions.settle",
    "schedule": settings.pipeline_settle_poll_s,
    "options": {"expires": max(5.0, 4 * settings.pipeline_settle_poll_s)},
}
# Bulk action imports (backend/worker/import_tasks.py): record accepted `Prefer: respond-async` requests.
app.conf.include = [*app.conf.include, "backend.worker.import_tasks"]
app.conf.beat_schedule["actions-imports"] = {
    "task": "loyalty.actions.imports",
    "schedule": settings.pipeline_poll_s,
    "options": {"expires": max(5.0, 4 * settings.pipeline_poll_s)},
}
