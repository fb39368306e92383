"""The worker process's one container, built on first use (after fork) and shared by every task."""

from __future__ import annotations

import threading

from celery.signals import worker_process_shutdown

from backend.bootstrap import Container, ready

_lock = threading.Lock()
_container: Container | None = None


def worker_container() -> Container:
    """One container (one pool, one RPC client) per worker process; it neither migrates nor deploys, and refuses
    to start on a database `loyalty migrate` has not prepared."""
    global _container
    with _lock:
        if _container is None:
            _container = ready(contracts=False)
        return _container


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _container is not None:
        _container.close()  # the webhook dispatcher's HTTP pool too, before the database
