"""`loyalty indexer run` killed with SIGKILL (between COPY and COMMIT, and at random) and restarted: no gap, no dup."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from backend.bootstrap import Container
from devtools.anvil import AnvilNode
from indexer.cli import EXIT_REORG_BEYOND_DEPTH
from tests.integration.indexer.conftest import (
    REPO,
    batch_mint,
    canonical_transfers,
    indexer_env,
    mirrored_count,
    mirrored_transfers,
    new_brand_token,
    random_wallet,
    start,
)
from tests.integration.indexer.kill_before_commit import KILL_BEFORE_COMMIT_ENV

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


def test_sigkill_anywhere_then_restart_gives_no_gap_and_no_duplicate(
    anvil: AnvilNode, chain_platform: Container
) -> None:
    assert chain_platform.contracts is not None
    rng = random.Random(99)
    tokens = [chain_platform.contracts.coalition.address, new_brand_token(chain_platform, "crashco")]
    for i in range(12):
        batch_mint(chain_platform, tokens[i % 2], {random_wallet(): rng.randint(1, 10**9) for _ in range(40)})
        anvil.mine(rng.randint(0, 3))
    # many small finalized ranges, so there is something to interrupt
    small_ranges = {
        "LOYALTY_INDEXER_MAX_RANGE": "4",
        "LOYALTY_INDEXER_FINALITY_TAG": "false",
        "LOYALTY_REORG_DEPTH": "2",
    }
    # 1) killed by itself after its rows are in the database but before COMMIT, twice in a row
    for _ in range(2):
        proc = start(chain_platform, **small_ranges, **{KILL_BEFORE_COMMIT_ENV: "2"})
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, err.decode()[-3000:]
    # 2) killed from outside at random moments
    for _ in range(2):
        proc = start(chain_platform, **small_ranges)
        time.sleep(rng.uniform(0.8, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # 3) finally allowed to finish
    proc = start(chain_platform, "--until-caught-up", **small_ranges)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    expected = canonical_transfers(anvil.url, [t.lower() for t in tokens])
    assert mirrored_transfers(chain_platform) == expected
    assert mirrored_count(chain_platform) == len(expected)  # no duplicates
    check = subprocess.run(
        [sys.executable, "-m", "backend.entrypoints.cli.main", "indexer", "reconcile", "--json"],
        cwd=REPO,
        env=indexer_env(chain_platform),
        capture_output=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout.decode()[-2000:]


def test_run_exits_nonzero_on_a_reorg_beyond_depth(anvil: AnvilNode, chain_platform: Container) -> None:
    assert chain_platform.contracts is not None
    batch_mint(chain_platform, chain_platform.contracts.coalition.address, {random_wallet(): 1})
    anvil.mine(8)
    proc = start(chain_platform, LOYALTY_INDEXER_FINALITY_TAG="false", LOYALTY_REORG_DEPTH="3")
    deadline = time.monotonic() + 60
    head = anvil.block_number()
    while time.monotonic() < deadline and _cursor(chain_platform) < head:
        time.sleep(0.1)
    assert _cursor(chain_platform) == head
    anvil.rpc("anvil_reorg", 6, [])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_REORG_BEYOND_DEPTH
    assert b"reorg" in err.lower()


def _cursor(container: Container) -> int:
    from sqlalchemy import text

    with container.engine.connect() as conn:
        value = conn.execute(text("SELECT max(block_number) FROM idx_cursor")).scalar()
    return -1 if value is None else int(value)


def test_run_survives_its_database_connections_being_cut(anvil: AnvilNode, chain_platform: Container) -> None:
    """Found by scripts/chaos.py: a terminated PostgreSQL backend used to end `indexer run` with exit 1."""
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    assert chain_platform.contracts is not None
    token = chain_platform.contracts.coalition.address
    batch_mint(chain_platform, token, {random_wallet(): 5 for _ in range(10)})
    proc = start(chain_platform, LOYALTY_INDEXER_FINALITY_TAG="false", LOYALTY_REORG_DEPTH="2")
    try:
        _wait_for(lambda: _cursor(chain_platform) >= anvil.block_number(), proc)
        database = chain_platform.engine.url.database
        admin = create_engine(chain_platform.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        for _ in range(3):
            with admin.connect() as conn:
                conn.execute(
                    sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": database},
                )
            chain_platform.engine.dispose()  # our own pooled connections were cut too
            batch_mint(chain_platform, token, {random_wallet(): 7 for _ in range(10)})
            time.sleep(0.5)
        admin.dispose()
        _wait_for(lambda: _cursor(chain_platform) >= anvil.block_number(), proc)
        assert proc.poll() is None, "the indexer exited after losing its database connection"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    expected = canonical_transfers(anvil.url, [token.lower()])
    assert mirrored_transfers(chain_platform) == expected
    assert mirrored_count(chain_platform) == len(expected)


def _wait_for(condition: Any, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the check's own connection may be one that was just cut
            pass
        if proc.poll() is not None:
            raise AssertionError(f"indexer exited early: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the indexer")
