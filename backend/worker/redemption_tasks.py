"""Celery task settling gasless redemptions: the same `RedemptionSettlement` the embedded runner calls."""

from __future__ import annotations

from backend.worker.celery_app import app
from backend.worker.container import worker_container


@app.task(name="loyalty.redemptions.settle")
def settle() -> bool:
    return bool(worker_container().redemption_settlement.settle())
