"""Bulk persistence: chunked lookups, multi-row inserts and upserts (COPY / unnest on PostgreSQL), id allocation.

Shared by the ledger, the action recorder, imports, the event log and `WriteBatch`; knows tables, not features.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic_core import to_json
from sqlalchemy import JSON, ColumnElement, Engine, Table, any_, bindparam, insert, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.adapters.orm.base import Uint256

CHUNK = 2000  # keys per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
COPY_FROM = 50  # rows from which COPY beats a multi-row INSERT on PostgreSQL
BALANCE_KEY = ("wallet", "chain_id", "token_address")


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_for_writing(session: Session) -> None:
    """SQLite: take the write lock before reading what we will update (no lost updates between processes)."""
    if is_postgres(session):
        return
    dbapi = session.connection().connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:  # type: ignore[attr-defined]
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def matching(session: Session, column: Any, values: Sequence[Any]) -> Iterable[ColumnElement[bool]]:
    """`column IN values` as few clauses as the database allows: one `= ANY(array)` on PostgreSQL, chunks elsewhere.

    NOTE: one array parameter instead of thousands of bind parameters: no per-value SQL rendering or parsing.
    """
    if not values:
        return
    if is_postgres(session):
        yield column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
        return
    for part in chunks(values):
        yield column.in_(part)


def json_text(value: Any) -> str:
    """JSON for a JSON column written by COPY (pydantic-core's encoder: several times faster than `json`)."""
    try:
        return to_json(value).decode()
    except ValueError:  # NOTE: e.g. an int beyond 64 bits, which the stdlib encoder writes as is
        return json.dumps(value)


def upsert(session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE with the given (absolute) values, in bulk."""
    if not rows:
        return
    if is_postgres(session):
        _pg_upsert(session, table, rows, keys)
        return
    stmt = sqlite.insert(table)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=updates) if updates else stmt.on_conflict_do_nothing()
    for part in chunks(rows, 1000):
        session.execute(stmt, list(part))


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows: COPY on PostgreSQL (one stream, no per-row statements), executemany elsewhere."""
    if not rows:
        return
    if not is_postgres(session) or len(rows) < COPY_FROM:
        for part in chunks(rows, 1000):
            session.execute(insert(table), list(part))
        return
    columns = list(rows[0])
    as_json = {c for c in columns if isinstance(table.c[c].type, JSON)}
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json_text(row[c]) if c in as_json else row[c] for c in columns])


_sequences: weakref.WeakKeyDictionary[Engine, dict[str, str]] = weakref.WeakKeyDictionary()


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """Reserve `count` primary keys from the table's sequence in one round trip (PostgreSQL)."""
    engine = session.get_bind()
    known = _sequences.setdefault(engine, {}) if isinstance(engine, Engine) else {}
    sequence = known.get(table.name)
    if sequence is None:  # NOTE: a table's sequence never changes, so it is asked once per process
        sequence = session.execute(text(f"SELECT pg_get_serial_sequence('{table.name}', 'id')")).scalar_one()
        known[table.name] = sequence
    return list(
        session.execute(
            text("SELECT nextval(:seq) FROM generate_series(1, :n)"), {"seq": sequence, "n": count}
        ).scalars()
    )


def by_unique_key(
    session: Session, table: Table, fixed: dict[str, Any], column: str, values: Sequence[Any], selected: list[str]
) -> list[Any]:
    """Rows where the `fixed` columns equal their values and `column` is one of `values` (a unique key).

    NOTE: on PostgreSQL each value is one LATERAL probe of the unique index, so the plan stays an index lookup
    whatever the statistics say. `col = ANY(array)` on a table that grew since its last ANALYZE (autovacuum off,
    or a burst of inserts) was planned as a scan of every row of the brand, and cost grew with the table.
    """
    if not values:
        return []
    if not is_postgres(session):
        rows: list[Any] = []
        cols = [table.c[c] for c in selected]
        where = [table.c[k] == v for k, v in fixed.items()]
        for part in chunks(values):
            rows += session.execute(select(*cols).where(*where, table.c[column].in_(list(part)))).all()
        return rows
    params: dict[str, Any] = {f"f{i}": v for i, v in enumerate(fixed.values())}
    params["values"] = pg_array(table, column, list(values))
    conds = [f'"{k}" = :f{i}' for i, k in enumerate(fixed)] + [f'"{column}" = v.value']
    names = ", ".join(f'"{c}"' for c in selected)
    query = text(
        f"SELECT x.* FROM unnest(CAST(:values AS {pg_type(table, column)}[])) AS v(value) CROSS JOIN LATERAL "
        f'(SELECT {names} FROM "{table.name}" WHERE {" AND ".join(conds)} LIMIT 1) AS x'
    )
    return list(session.execute(query.columns(*(table.c[c] for c in selected)), params).all())


def ensure_and_lock(
    session: Session, table: Table, key_cols: list[str], keys: list[tuple[Any, ...]], defaults: dict[str, Any]
) -> list[Any]:
    """Rows for `keys`, created with `defaults` if missing; locked FOR UPDATE on PostgreSQL."""
    if not keys:
        return []
    ordered = sorted(set(keys))
    if is_postgres(session):
        return _pg_ensure_and_lock(session, table, key_cols, ordered, defaults)
    rows: list[Any] = []
    cols = [table.c[c] for c in key_cols]
    for part in chunks(ordered):
        rows += session.execute(select(table).where(tuple_(*cols).in_(list(part))).order_by(*cols)).all()
    return rows


# -- PostgreSQL: whole arrays as parameters (`unnest`), so a 10,000-row write is one short statement ----------


@functools.cache
def pg_type(table: Table, column: str) -> str:
    """The column's PostgreSQL type name (cached: compiling a type builds a dialect each time)."""
    col_type = table.c[column].type
    if isinstance(col_type, Uint256):
        return "NUMERIC(78,0)"
    return str(col_type.compile(dialect=postgresql.dialect()))


def pg_array(table: Table, column: str, values: list[Any]) -> list[Any]:
    # NOTE: uint256 values travel as text (psycopg would pick bigint for small ints and overflow on big ones).
    return [None if v is None else str(v) for v in values] if isinstance(table.c[column].type, Uint256) else values


def _pg_unnest(table: Table, columns: list[str], rows: list[dict[str, Any]], params: dict[str, Any]) -> str:
    args = []
    for i, column in enumerate(columns):
        params[f"a{i}"] = pg_array(table, column, [r[column] for r in rows])
        args.append(f"CAST(:a{i} AS {pg_type(table, column)}[])")
    names = ", ".join(f'"{c}"' for c in columns)
    return f"unnest({', '.join(args)}) AS u({names})"


def _pg_upsert(
    session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str], *, keep_existing: bool = False
) -> None:
    columns = list(rows[0])
    updates = [] if keep_existing else [c for c in columns if c not in keys]
    action = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in updates)
    params: dict[str, Any] = {}
    source = _pg_unnest(table, columns, rows, params)
    names = ", ".join(f'"{c}"' for c in columns)
    conflict = ", ".join(f'"{k}"' for k in keys)
    session.execute(
        text(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {source} '
            f"ON CONFLICT ({conflict}) DO {'UPDATE SET ' + action if action else 'NOTHING'}"
        ),
        params,
    )


def _pg_ensure_and_lock(
    session: Session, table: Table, key_cols: list[str], keys: list[tuple[Any, ...]], defaults: dict[str, Any]
) -> list[Any]:
    """One statement: create missing rows and lock all of them (an upsert locks the rows it touches).

    NOTE: rows go in key order, so two requests locking overlapping wallets take the locks in the same order.
    """
    rows = [dict(zip(key_cols, k, strict=True)) | defaults for k in keys]
    columns = list(rows[0])
    params: dict[str, Any] = {}
    source = _pg_unnest(table, columns, rows, params)
    names = ", ".join(f'"{c}"' for c in columns)
    conflict = ", ".join(f'"{k}"' for k in key_cols)
    touch = ", ".join(f'"{k}" = EXCLUDED."{k}"' for k in key_cols)
    query = text(
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {source} ORDER BY {conflict} '
        f"ON CONFLICT ({conflict}) DO UPDATE SET {touch} RETURNING *"
    )
    return list(session.execute(query.columns(*table.c), params).all())
