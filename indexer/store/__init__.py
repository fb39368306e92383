"""Bulk, idempotent writes of decoded batches; the cursor commits in the same transaction as its rows."""

from __future__ import annotations

from sqlalchemy import Engine

from indexer.store.base import Batch, Cursor, MirrorStore
from indexer.store.postgres import PostgresStore
from indexer.store.sqlite import SqliteStore


def open_store(engine: Engine) -> MirrorStore:
    """PostgreSQL gets COPY + set-based SQL; SQLite (embedded default) gets executemany with the same semantics."""
    if engine.dialect.name == "postgresql":
        return PostgresStore(engine)
    return SqliteStore(engine)


__all__ = ["Batch", "Cursor", "MirrorStore", "PostgresStore", "SqliteStore", "open_store"]
