"""Celery tasks: each calls the same `MintingPipeline` step the embedded runner and the CLI call."""

from __future__ import annotations

import logging

from backend.services.minting.pipeline import MintingPipeline
from backend.worker.celery_app import app
from backend.worker.container import worker_container

log = logging.getLogger("loyalty.worker")


def pipeline() -> MintingPipeline:
    return worker_container().pipeline


@app.task(name="loyalty.pipeline.build")
def build() -> bool:
    built = pipeline().build()
    if built:  # NOTE: sign the new batch now rather than at the next beat tick (latency, not correctness)
        dispatch.delay()
    return built


@app.task(name="loyalty.pipeline.dispatch")
def dispatch() -> bool:
    return pipeline().dispatch()


@app.task(name="loyalty.pipeline.track")
def track() -> bool:
    changed = pipeline().track()
    if changed:  # a batch may have confirmed: settle it now rather than at the next beat tick
        settle.delay()
    return changed


@app.task(name="loyalty.pipeline.settle")
def settle() -> bool:
    return pipeline().settle()


@app.task(name="loyalty.pipeline.step")
def step(name: str) -> bool:
    return pipeline().step(name)
