"""Celery tasks: each calls the same `MintingPipeline` step the embedded runner and the CLI call."""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_process_shutdown

from backend.bootstrap import Container, bootstrap
from backend.services.minting.pipeline import MintingPipeline, build_pipeline
from backend.worker.celery_app import app

log = logging.getLogger("loyalty.worker")
_lock = threading.Lock()
_container: Container | None = None


def pipeline() -> MintingPipeline:
    """One container per worker process, built on first use (after fork), without migrating or deploying."""
    global _container
    with _lock:
        if _container is None:
            _container = bootstrap(run_migrations=False, deploy=False)
    return build_pipeline(_container)


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _container is not None:
        _container.close()


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
