"""A process whose database connection is cut while it migrates at start-up retries instead of crashing.

Found by scripts/chaos.py: the indexer, restarted moments before a database restart, exited with
OperationalError from the migration step.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.adapters.db import make_engine, migrate
from tests.conftest import PG_ADMIN_URL

pytestmark = [pytest.mark.postgres]


def test_migration_survives_its_connection_being_terminated(pg_url: str) -> None:
    db = make_url(pg_url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    holder = create_engine(pg_url)
    engine = make_engine(pg_url)
    errors: list[BaseException] = []

    def start_up() -> None:
        try:
            migrate(engine)
        except BaseException as exc:
            errors.append(exc)

    try:
        with holder.connect() as lock_conn:
            lock_conn.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))  # migrate() waits
            worker = threading.Thread(target=start_up)
            worker.start()
            waiting = None
            deadline = time.monotonic() + 30
            while waiting is None and time.monotonic() < deadline:
                with admin.connect() as conn:
                    waiting = conn.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE datname = :d AND wait_event_type = 'Lock' "
                            "AND pid <> pg_backend_pid()"
                        ),
                        {"d": db},
                    ).scalar()
                time.sleep(0.05)
            assert waiting is not None, "the migration never waited for the lock"
            with admin.connect() as conn:  # what a database restart does to that connection
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": waiting})
            lock_conn.rollback()  # the lock goes away; the retried migration can finish
        worker.join(60)
        assert not worker.is_alive()
        assert errors == []
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
    finally:
        engine.dispose()
        holder.dispose()
        admin.dispose()
