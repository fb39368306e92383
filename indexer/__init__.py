"""Chain indexer: fetch → decode → store, with reorg handling — a Postgres/SQLite mirror of every loyalty token.

Entry points: `indexer.streamer.index_once(container)` (Celery beat / embedded runner), `loyalty indexer run`.
"""

from indexer.errors import IndexerError, ReorgBeyondDepth

__all__ = ["IndexerError", "ReorgBeyondDepth"]
