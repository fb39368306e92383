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
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
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


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision of every branch (features keep their own branches)."""
    retry_lost_connection(lambda: command.upgrade(alembic_config(engine), "heads"), "schema migration")


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
