"""Secondary indexes of the mirror, built after a cold backfill instead of maintained row by row during it.

Ponder does the same: on an empty mirror, every COPYed row would otherwise update eight B-trees keyed on random
addresses and hashes, which is most of the backfill's database time. Building them once at the end (sorted, in
`maintenance_work_mem`) costs a fraction of that. The primary keys stay: they are the dedupe that makes a
replayed range harmless, and the balance upserts need them.

Crash-safe without a marker: the state *is* the catalogue. A restart mid-backfill finds the indexes absent and
keeps going without them; whichever process first reaches the unfinalized window builds whatever is missing,
in one transaction (`CREATE INDEX` is transactional on PostgreSQL, so a crash mid-build leaves nothing half-made).
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from backend.adapters.orm.base import Base

DEFERRED_TABLES = ("idx_transfers", "idx_batch_mints", "idx_redemptions", "idx_balances")


def deferred_indexes() -> list[Index]:
    """The mirror's non-unique indexes (names and columns from the ORM, the same ones the migration creates)."""
    import backend.adapters.orm.indexer  # noqa: F401  (registers the mirror tables on Base.metadata)

    out: list[Index] = []
    for table in DEFERRED_TABLES:
        out += sorted((i for i in Base.metadata.tables[table].indexes if not i.unique), key=lambda i: str(i.name))
    return out


def create_sql(index: Index) -> str:
    return str(CreateIndex(index, if_not_exists=True).compile(dialect=postgresql.dialect()))


def drop_sql(index: Index) -> str:
    return f"DROP INDEX IF EXISTS {index.name}"
