"""Scale-out: three pipeline worker processes (build + settle) and two `loyalty relayer run` candidates share one
PostgreSQL and anvil; the leading relayer is SIGKILLed midway, the standby takes over, and every credit is minted
exactly once (chain balances == ledger, each batch's BatchMinted once, no credit in two minted batches)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import keccak
from sqlalchemy import text

from backend.adapters.chain.contracts import brand_id_bytes, create_token
from devtools.anvil import AnvilNode
from tests.support.celery_worker import wait_for
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[3]
BATCH_MINTED = "0x" + keccak(text="BatchMinted(bytes32,bytes32,uint256,uint256)").hex()
# A pipeline worker without Celery: build and settle in a loop (compare-and-set claims make several safe).
WORKER = """
import time
from backend.bootstrap import ready
pipeline = ready(contracts=False).pipeline
while True:
    try:
        busy = pipeline.build() | pipeline.settle()
    except Exception as exc:
        print("worker step failed:", exc, flush=True)
        busy = False
    if not busy:
        time.sleep(0.2)
"""


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    with AnvilNode(block_time=1) as anvil:
        yield anvil


def settings(env: MintEnv) -> dict[str, str]:
    return {
        "LOYALTY_ENV": "test",
        "LOYALTY_DATABASE_URL": env.pg_url,
        "LOYALTY_RPC_URLS": env.node.url,
        "LOYALTY_DEPLOYMENTS_DIR": str(env.tmp_path / "deployments"),
        "LOYALTY_CONFIRMATIONS": "0",  # as MintEnv: final once mined (anvil's `finalized` tag lags far behind)
        "LOYALTY_USE_FINALIZED_TAG": "false",
        "LOYALTY_BATCH_WINDOW_S": "0.3",
        "LOYALTY_BATCH_MAX_RECIPIENTS": "10",
        "PYTHONPATH": str(REPO),
    }


def spawn(env: MintEnv, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=REPO, env={**os.environ, **settings(env)}, stdout=out, stderr=out)


def leader_pid(env: MintEnv) -> int | None:
    with env.main.engine.connect() as conn:
        name = conn.execute(
            text("SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'loyalty-relayer %'")
        ).scalar()
    return int(name.split()[1]) if name else None


def test_three_workers_and_two_relayers_mint_every_credit_once_across_a_leader_kill(
    env: MintEnv, tmp_path: Path
) -> None:
    c = env.main
    assert c.contracts is not None
    tokens = [env.coalition, env.brand_token]
    for n in range(2):
        tokens.append(
            create_token(
                c.chain,
                c.contracts.factory.address,
                c.deployer,
                brand_id_bytes(f"scale-out-{n}"),
                f"Brand {n}",
                f"B{n}",
                18,
                0,
                c.deployer.address,
                [w.address for w in c.hot_wallets],
            ).address
        )
    for token in tokens:
        env.credit(token, new_wallets(25), per_wallet=2)  # 50 actions per brand, 200 in all
    loyalty = str(Path(sys.executable).parent / "loyalty")
    workers = [spawn(env, [sys.executable, "-c", WORKER], tmp_path / f"worker{i}.log") for i in range(3)]
    relayers = [
        spawn(env, [loyalty, "relayer", "run", *poll], tmp_path / f"relayer{i}.log")
        for i, poll in enumerate(([], ["--poll-s", "0.1"]))
    ]
    procs = [*workers, *relayers]

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(tmp_path.glob("*.log")))

    try:
        assert wait_for(lambda: env.count("minted") > 0, 120), logs()
        first = leader_pid(env)
        victim = next(p for p in relayers if p.pid == first)
        env.credit(env.coalition, new_wallets(25), per_wallet=2)  # more work arrives while the leader dies
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        standby = next(p for p in relayers if p is not victim)
        assert wait_for(lambda: leader_pid(env) == standby.pid, 30), logs()
        status = subprocess.run(
            [loyalty, "relayer", "status"], env={**os.environ, **settings(env)}, capture_output=True, check=True
        )
        report = json.loads(status.stdout)
        assert report["chain_id"] == c.chain.chain_id and report["leader"]["pid"] == standby.pid, report
        drained = wait_for(
            lambda: env.count("pending") == 0 and env.count("batched") == 0 and env.unsettled_intents() == 0, 240
        )
        assert drained, logs()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)

    env.assert_chain_matches_ledger()
    with c.engine.connect() as conn:
        minted = set(conn.scalars(text("SELECT batch_id FROM mint_batches WHERE state = 'confirmed'")))
        twice = conn.execute(
            text(
                "SELECT i.credit_outbox_id FROM batch_items i JOIN mint_batches b ON b.batch_id = i.batch_id"
                " WHERE b.state = 'confirmed' GROUP BY i.credit_outbox_id HAVING count(*) > 1"
            )
        ).all()
        credits = conn.scalar(text("SELECT count(*) FROM credit_outbox"))
        in_minted = conn.scalar(
            text(
                "SELECT count(DISTINCT i.credit_outbox_id) FROM batch_items i"
                " JOIN mint_batches b ON b.batch_id = i.batch_id WHERE b.state = 'confirmed'"
            )
        )
    assert not twice, f"credit in two minted batches: {twice}"
    assert in_minted == credits == 250
    logs_on_chain = c.chain.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": tokens, "topics": [BATCH_MINTED]}  # type: ignore[typeddict-item]
    )
    on_chain = Counter("0x" + bytes(log["topics"][1]).hex() for log in logs_on_chain)
    assert set(on_chain) == minted and set(on_chain.values()) == {1}, "a batch id minted twice or not at all"
