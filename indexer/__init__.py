"""Chain indexer: fetch → decode → store, with reorg handling — a Postgres/SQLite mirror of every loyalty token.

Entry points: `indexer.service.build_streamer(engine, chain, settings)` (its `step()` is a job of
`backend.jobs`), `loyalty indexer run`.
"""

from indexer.errors import IndexerError, ReorgBeyondDepth

__all__ = ["IndexerError", "ReorgBeyondDepth"]
