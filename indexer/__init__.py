"""Chain indexer: fetch → decode → store, with reorg handling — a Postgres/SQLite mirror of every loyalty token.

Entry points: `indexer.service.build_streamer(engine, transport, chain_id, factory)` (its `step()` is a job of
`backend.jobs`), `loyalty indexer run`. It needs a database engine and a JSON-RPC transport; from the backend it
takes only the shared error root (`backend.errors`) and the table base its mirror tables are migrated with.
"""

from indexer.errors import IndexerError, ReorgBeyondDepth

__all__ = ["IndexerError", "ReorgBeyondDepth"]
