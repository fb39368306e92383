"""Wiring: a `Streamer` on an engine and a JSON-RPC transport (API process, Celery worker, embedded runner, CLI).

The backend decides what to follow and how (its settings, its recorded factory: `backend.bootstrap.indexer_streamer`);
the indexer needs only a database engine, a transport and the chain id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from indexer.fetch.rpc import Transport
from indexer.store import open_store
from indexer.streamer import Streamer


def build_streamer(
    engine: Engine, transport: Transport, chain_id: int, factory: tuple[str, int], **options: Any
) -> Streamer:
    """A streamer on `transport` into `engine`'s database, following `factory` (address, deployment block)."""
    address, start = factory
    return Streamer(
        transport=transport, store=open_store(engine), chain_id=chain_id, factory=address, start_block=start, **options
    )
