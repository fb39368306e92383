"""`loyalty pipeline step ...` runs the same steps one at a time from a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[3]


def loyalty(env: MintEnv, tmp_path: Path, *args: str) -> str:
    environment = {
        **os.environ,
        "LOYALTY_ENV": "test",
        "LOYALTY_DATABASE_URL": env.pg_url,
        "LOYALTY_RPC_URLS": env.node.url,
        "LOYALTY_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "LOYALTY_CONFIRMATIONS": "0",
        "LOYALTY_USE_FINALIZED_TAG": "false",
        "LOYALTY_BATCH_WINDOW_S": "0.001",
    }
    done = subprocess.run(
        [sys.executable, "-m", "backend.entrypoints.cli.main", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_steps_from_the_command_line_mint_the_credit(env: MintEnv, tmp_path: Path) -> None:
    env.credit(env.coalition, new_wallets(3), per_wallet=2)

    assert "6 credits, 3 wallets" in loyalty(env, tmp_path, "pipeline", "step", "aggregate")
    assert "build: did work" in loyalty(env, tmp_path, "pipeline", "step", "build")
    loyalty(env, tmp_path, "pipeline", "step", "dispatch")
    env.node.mine(2)
    loyalty(env, tmp_path, "pipeline", "step", "all")

    env.assert_chain_matches_ledger()
