"""The real minting pipeline and indexer, audited from the outside: export → `loyalty audit verify` passes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from devtools.anvil import AnvilNode, anvil_available
from tests.conftest import wipe_postgres
from tests.integration.audit.conftest import cli
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


@pytest.fixture
def env(pg_url: str, tmp_path: Path) -> Iterator[MintEnv]:
    if not anvil_available():
        pytest.fail("anvil is required (node_modules/.bin/anvil)")
    wipe_postgres(pg_url)
    with AnvilNode() as node:
        e = MintEnv(node, pg_url, tmp_path)
        yield e
        e.close()
    wipe_postgres(pg_url)


def test_pipeline_batches_and_the_postgres_mirror_pass_the_audit(env: MintEnv, tmp_path: Path) -> None:
    env.overrides["batch_max_recipients"] = 5  # several batches per token
    pipeline = env.pipeline(env.container())
    env.credit(env.coalition, new_wallets(8), per_wallet=2)
    env.credit(env.brand_token, new_wallets(3), per_wallet=1)
    env.drain(pipeline)
    for _ in range(100):
        if not env.main.streamer.step():
            break

    out = tmp_path / "manifests"
    code, output = cli("audit", "export", "--out", str(out), "--database-url", env.pg_url)
    assert code == 0, output
    with env.main.engine.connect() as conn:
        batches = conn.scalar(text("SELECT count(*) FROM mint_batches WHERE state = 'confirmed'"))
    assert batches and len(list(out.rglob("*.json"))) == batches

    assert env.main.contracts is not None
    report = tmp_path / "report.json"
    code, output = cli(
        "audit", "verify", "--rpc-url", env.node.url, "--manifests", str(out),
        "--factory", env.main.contracts.factory.address, "--mirror-db", env.pg_url, "--json", str(report),
    )  # fmt: skip
    assert code == 0, output
    summary = json.loads(report.read_text())["summary"]
    assert summary["batches"] == summary["manifests"] == batches and summary["actions"] == 8 * 2 + 3
    assert summary["mirror_checked_to_block"] is not None
