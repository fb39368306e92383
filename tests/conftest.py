"""Shared fixtures: a PostgreSQL database and Redis prefix per test run, SQLite per test, containers."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.adapters.chain.client import ChainClient
from backend.adapters.db import make_engine, migrate
from backend.adapters.orm.base import Base
from backend.bootstrap import Container, provision
from backend.config import Settings
from backend.services.foundation.deployment import PlatformContracts

PG_ADMIN_URL = os.environ.get("LOYALTY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]
# Tables that survive the per-test wipe on the shared PostgreSQL database.
KEEP_TABLES = {"alembic_version"}


@pytest.fixture(scope="session")
def pg_url(worker_id: str) -> Iterator[str]:
    """A PostgreSQL database of this run (and xdist worker), migrated once, dropped at the end."""
    name = f"loyalty_t_{RUN_ID}_{worker_id}".lower()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, made loud
        pytest.fail(f"PostgreSQL is required for these tests ({PG_ADMIN_URL}): {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def wipe_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP_TABLES]
    with engine.begin() as conn:
        existing = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars())
        names = ", ".join(f'"{t}"' for t in tables if t in existing)
        if names:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test runs on a fresh SQLite file and on the run's PostgreSQL database (wiped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'loyalty.db'}"
        return
    url = request.getfixturevalue("pg_url")
    wipe_postgres(url)
    yield url
    wipe_postgres(url)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis with a key prefix of this test; keys are deleted afterwards."""
    client = redis_lib.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis_lib.RedisError as exc:
        pytest.fail(f"Redis is required for these tests ({REDIS_URL}): {exc}")
    yield REDIS_URL
    client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"loyalty-test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis_lib.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def make_settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": db_url,
        "rpc_urls": "eth-tester://",
        "deployments_dir": tmp_path / "deployments",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def container(db_url: str, tmp_path: Path) -> Iterator[Container]:
    """A fully wired platform on an in-process chain with the contracts deployed."""
    c = provision(make_settings(db_url, tmp_path))
    yield c
    c.close()


@pytest.fixture(scope="session")
def shared_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChainClient, PlatformContracts]]:
    """One in-process chain with the platform contracts, shared by the API-level integration suites.

    NOTE: deploying the factory and brand tokens costs seconds; on a shared chain a brand slug seen before reuses
    its token (the factory allows one token per brand id and onboarding asks `tokenOf` first).
    """
    tmp = tmp_path_factory.mktemp("shared-chain")
    c = provision(make_settings(f"sqlite:///{tmp / 'chain.db'}", tmp))
    assert c.contracts is not None
    yield c.chain, c.contracts
    c.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; tests copy it instead of running every migration again."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def use_template(db_url: str, template: Path) -> str:
    """`db_url`, with a SQLite file already migrated (copied from the template)."""
    if db_url.startswith("sqlite:///"):
        shutil.copy(template, db_url.removeprefix("sqlite:///"))
    return db_url
