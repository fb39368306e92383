"""A process that migrates at start-up, as every API worker, Celery worker and indexer does.

Kept apart from the test module so a spawned child imports only the database adapter, not the test fixtures.
"""

from __future__ import annotations

from multiprocessing.synchronize import Barrier

from backend.adapters.db import make_engine, migrate


def start_up(url: str, start: Barrier) -> None:
    engine = make_engine(url)
    start.wait(60)
    try:
        migrate(engine)
    finally:
        engine.dispose()
