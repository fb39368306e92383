"""A real Celery worker (Redis broker) runs the pipeline; SIGKILLed mid-run and restarted, credit is minted once."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from devtools.anvil import AnvilNode
from tests.support import celery_worker
from tests.support.celery_worker import kill, wait_for
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def start_worker(env: MintEnv, redis_url: str, redis_prefix: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    settings = {
        "LOYALTY_ENV": "test",
        "LOYALTY_DATABASE_URL": env.pg_url,
        "LOYALTY_RPC_URLS": env.node.url,
        "LOYALTY_REDIS_URL": redis_url,
        "LOYALTY_REDIS_PREFIX": redis_prefix,
        "LOYALTY_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "LOYALTY_CONFIRMATIONS": "0",
        "LOYALTY_USE_FINALIZED_TAG": "false",
        "LOYALTY_BATCH_WINDOW_S": "0.3",
        "LOYALTY_BATCH_MAX_RECIPIENTS": "4",
        "LOYALTY_PIPELINE_POLL_S": "0.3",
        "LOYALTY_PIPELINE_SETTLE_POLL_S": "0.3",
    }
    schedule = tmp_path / f"beat-schedule-{time.monotonic_ns()}"  # a SIGKILLed beat may leave its file locked
    return celery_worker.start_worker(settings, tmp_path, "--beat", "--concurrency", "4", "--schedule", str(schedule))


@pytest.fixture
def node() -> object:
    with AnvilNode(block_time=1) as anvil:  # blocks keep coming while the worker runs
        yield anvil


def test_worker_killed_mid_run_and_restarted_mints_every_credit_once(
    env: MintEnv, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env.credit(env.coalition, new_wallets(20), per_wallet=2)
    env.credit(env.brand_token, new_wallets(10), per_wallet=2)
    worker = start_worker(env, redis_url, redis_prefix, tmp_path)
    try:
        assert wait_for(lambda: env.count("minted") > 0 or env.count("batched") > 0, 60), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        kill(worker)  # mid-run: batches built, some sent, others not
        env.credit(env.coalition, new_wallets(6), per_wallet=1)
        worker = start_worker(env, redis_url, redis_prefix, tmp_path)
        drained = wait_for(
            lambda: env.count("pending") == 0 and env.count("batched") == 0 and env.unsettled_intents() == 0, 120
        )
        assert drained, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        kill(worker)
    env.assert_chain_matches_ledger()
