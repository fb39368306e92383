"""Engine, sessions, unit of work and schema migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK_KEY = 0x6C6F79616C7479  # "loyalty" in ASCII: the advisory lock every migrating process takes
STARTUP_ATTEMPTS = 8  # ~30 s of retries: a database restart or failover while a process starts
log = logging.getLogger("loyalty.db")
T = TypeVar("T")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys so threads can share it."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    # NOTE: psycopg prepares a statement after 5 runs, and PostgreSQL then keeps one generic plan per connection
    # if it costs no more than the custom ones. Made while a table is nearly empty, that plan may scan a brand's
    # every row by the wrong index for ever after (seen: a 10,000-key idempotency lookup took 17 s instead of
    # 10 ms). Planning each run with its real parameters costs well under a millisecond per statement.
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("options", "-c plan_cache_mode=force_custom_plan")
    return create_engine(url, connect_args=connect_args, **kwargs)


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of `alembic.ini` (same scripts), running on `connection` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the head revision; processes migrating one database at once take turns."""
    retry_lost_connection(lambda: _upgrade_to_head(engine), "schema migration")


def _upgrade_to_head(engine: Engine) -> None:
    with engine.connect() as connection:
        lock_for_migration(connection)
        command.upgrade(alembic_config(connection), "head")


def lock_for_migration(connection: Connection) -> None:
    """Begin the migration's transaction holding the database's migration lock (`env.py` commits it).

    NOTE: without it, two processes starting on an empty database both find no `alembic_version`, both create
    the tables, and one fails. PostgreSQL: a transaction-level advisory lock on a fixed key, so it ends with the
    migration's one transaction (DDL is transactional there) or its lost connection, never stays on a pooled
    connection, and the waiter then reads the committed head; a revision using `autocommit_block` would end it
    early. SQLite does not serialise this itself (its driver autocommits DDL): one `BEGIN EXCLUSIVE` transaction
    makes other writers wait (busy timeout, then the start-up retry) and leaves nothing half-made on a crash.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN EXCLUSIVE")


def retry_lost_connection(work: Callable[[], T], what: str, attempts: int = STARTUP_ATTEMPTS) -> T:
    """Run a startup step again when the database drops the connection, instead of crashing the process.

    NOTE: every process (API worker, Celery, indexer) migrates and seeds at start; a database restart at that
    moment used to kill it with OperationalError (seen in scripts/chaos.py). Each step is idempotent.
    """
    for attempt in range(attempts):
        try:
            return work()
        except OperationalError as exc:
            if attempt == attempts - 1:
                raise
            delay = min(5.0, 0.5 * 2**attempt)
            log.warning("%s: database connection lost (%s); retrying in %.1f s", what, exc.orig, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


class UnitOfWork:
    """A session that rolls back unless `commit()` is called."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()


@contextmanager
def session_scope(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with UnitOfWork(session_factory) as uow:
        yield uow.session
        uow.commit()
