"""Schema migrations: one line of Alembic revisions that matches the models, upgrades old databases, downgrades
to nothing, is safe to run from several processes at once, and works with the plain `alembic` CLI."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from backend.adapters.db import MIGRATIONS_DIR, alembic_config, make_engine, migrate
from backend.adapters.orm import Base
from devtools.postgres import fresh_database
from tests.conftest import PG_ADMIN_URL, RUN_ID
from tests.integration.foundation.migrating_process import start_up

REPO = Path(__file__).resolve().parents[3]
# What `alembic_version` holds in a database migrated before the branches were merged (one row per branch head).
FEATURE_BRANCH_HEADS = [
    "0002_indexer",
    "0002_notifications",
    "0002_pipeline",
    "0002_qr",
    "0002_relayer",
    "0002_shoppers",
    "0003_action_imports",
]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path, worker_id: str) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"loyalty_t_{RUN_ID}_{worker_id}_m{uuid.uuid4().hex[:6]}".lower()
    with fresh_database(PG_ADMIN_URL, name) as url:
        yield url


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    e = make_engine(empty_db_url)
    yield e
    e.dispose()


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"the revisions must form one line, found heads {heads}"
    return heads[0]


def versions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def schema_differences(engine: Engine) -> list[object]:
    """What `alembic revision --autogenerate` would write: the models against the migrated schema.

    NOTE: nothing is filtered out. The indexer's deferred indexes (indexer/store/deferred_indexes.py) are created
    by 0002_indexer and only dropped for the length of a cold backfill, so a migrated schema has them all.
    """
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, Base.metadata))


def test_the_revisions_form_one_line_that_the_root_alembic_ini_points_at() -> None:
    assert head()
    ini = Config(str(REPO / "alembic.ini"))
    assert Path(str(ini.get_main_option("script_location"))).resolve() == MIGRATIONS_DIR.resolve()


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    migrate(engine)
    assert versions(engine) == [head()]
    assert schema_differences(engine) == []


def test_a_database_migrated_on_the_feature_branches_upgrades_to_the_one_head(engine: Engine) -> None:
    with engine.connect() as conn:
        for branch_head in FEATURE_BRANCH_HEADS:  # what `upgrade heads` left before the merge revision
            command.upgrade(alembic_config(conn), branch_head)
        conn.execute(
            text(
                "INSERT INTO deployments (chain_id, name, address, tx_hash, block_number, created_at) "
                "VALUES (1, 'kept', '0x01', '0x02', 7, CURRENT_TIMESTAMP)"
            )
        )
        conn.commit()
    assert versions(engine) == FEATURE_BRANCH_HEADS
    migrate(engine)
    assert versions(engine) == [head()]
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM deployments")).scalars().all() == ["kept"]


def test_downgrade_to_base_removes_every_table_and_upgrade_rebuilds_them(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert versions(engine) == [head()]
    assert schema_differences(engine) == []


@pytest.mark.slow
def test_processes_migrating_an_empty_database_at_once_take_turns(empty_db_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")  # NOTE: Alembic's `context` and `op` are process globals
    start = spawn.Barrier(2)
    processes = [spawn.Process(target=start_up, args=(empty_db_url, start)) for _ in range(2)]
    for p in processes:
        p.start()
    deadline = time.monotonic() + 120
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    still_running = [p for p in processes if p.is_alive()]
    for p in still_running:
        p.kill()
    assert not still_running, "a migration was still waiting after 120 s"
    assert [p.exitcode for p in processes] == [0, 0]
    engine = make_engine(empty_db_url)
    try:
        assert versions(engine) == [head()]
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_a_new_revision_continues_the_line_and_downgrade_minus_one_steps_back(tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = Config()
    cfg.set_main_option("script_location", str(scripts))
    merged = head()
    command.revision(cfg, "next change", rev_id="0005_next")
    assert ScriptDirectory.from_config(cfg).get_heads() == ["0005_next"]
    engine = make_engine(f"sqlite:///{tmp_path / 'next.db'}")
    try:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            assert versions(engine) == ["0005_next"]
            command.downgrade(cfg, "-1")
        assert versions(engine) == [merged]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_alembic_cli_migrates_the_settings_database_from_the_repo_root(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"

    def alembic(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "alembic", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    heads = alembic("heads").splitlines()
    assert len(heads) == 1 and heads[0].startswith(head()) and heads[0].endswith("(head)")
    alembic("upgrade", "head")
    assert "(head)" in alembic("current")
    assert "No new upgrade operations detected" in alembic("check")  # autogenerate finds nothing to write
