"""`WriteBatch`: the inserts and upserts of one unit of work, sent to PostgreSQL in a single round trip.

On PostgreSQL every statement is one `INSERT ... SELECT FROM unnest(arrays)` (a whole column per parameter) and
all of them travel in one psycopg pipeline: the group commit of single actions costs one network round trip
for its writes instead of one (or, with COPY, three) per table. Large inserts (a bulk request) go by COPY,
after what is queued. Elsewhere (SQLite) each write runs at once. Statements run in the order they were added;
`execute()` must be called before reading what they write. Rows carry every column that has no server-side
default (ORM-side defaults are not applied on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import JSON, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.adapters.bulk import bulk_insert, is_postgres, json_text, pg_array, pg_type, upsert

COPY_FROM = 1000  # rows from which an insert goes by COPY rather than into the pipeline


@dataclass
class WriteBatch:
    session: Session
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if not is_postgres(self.session):
            bulk_insert(self.session, table, rows)
            return
        if len(rows) >= COPY_FROM:  # NOTE: a bulk request: COPY streams faster; round trips no longer matter
            self.execute()
            bulk_insert(self.session, table, rows)
            return
        self.statements.append(_unnest_insert(table, rows, ""))

    def upsert(self, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other given column."""
        if not rows:
            return
        if not is_postgres(self.session):
            upsert(self.session, table, rows, keys)
            return
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in rows[0] if c not in keys)
        conflict = ", ".join(f'"{k}"' for k in keys)
        tail = f" ON CONFLICT ({conflict}) DO {'UPDATE SET ' + updates if updates else 'NOTHING'}"
        self.statements.append(_unnest_insert(table, rows, tail))

    def execute(self) -> None:
        """Send what is queued (one pipelined round trip on PostgreSQL); errors surface as SQLAlchemy errors."""
        if not self.statements:
            return
        statements, self.statements = self.statements, []
        conn = self.session.connection().connection.driver_connection
        assert isinstance(conn, psycopg.Connection)
        try:
            with conn.pipeline(), conn.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute(sql, params)
        except psycopg.Error as exc:
            # NOTE: callers retry IntegrityError / OperationalError (a race on an idempotency key, a deadlock)
            # exactly as they do for statements sent through SQLAlchemy.
            raise DBAPIError.instance(statements[0][0], None, exc, psycopg.Error) from exc


def _unnest_insert(table: Table, rows: list[dict[str, Any]], tail: str) -> tuple[str, dict[str, Any]]:
    columns = list(rows[0])
    params: dict[str, Any] = {}
    args, selected = [], []
    for i, column in enumerate(columns):
        values = [row[column] for row in rows]
        if isinstance(table.c[column].type, JSON):
            # NOTE: JSON travels as text and is cast in SQL; psycopg cannot adapt a list of dicts to json[].
            params[f"a{i}"] = [json_text(v) for v in values]
            args.append(f"CAST(%(a{i})b AS TEXT[])")
            selected.append(f'CAST(u."{column}" AS {pg_type(table, column)})')
        else:
            params[f"a{i}"] = pg_array(table, column, values)
            args.append(f"CAST(%(a{i})b AS {pg_type(table, column)}[])")
            selected.append(f'u."{column}"')
    names = ", ".join(f'"{c}"' for c in columns)
    sql = (
        f'INSERT INTO "{table.name}" ({names}) SELECT {", ".join(selected)} '
        f"FROM unnest({', '.join(args)}) AS u({names}){tail}"
    )
    return sql, params
