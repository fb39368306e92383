"""Indexer fixtures: a platform bootstrapped on a throwaway anvil, helpers that move tokens, chain-vs-mirror views."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import to_checksum_address
from sqlalchemy import text

from backend.adapters.chain.contracts import brand_id_bytes, create_token, token_contract
from backend.adapters.chain.transactions import send_and_wait
from backend.bootstrap import Container, provision
from devtools.anvil import AnvilNode, anvil_available
from indexer.decode import TRANSFER
from tests.conftest import make_settings
from tests.integration.indexer.kill_before_commit import KILL_BEFORE_COMMIT_ENV

pytestmark = pytest.mark.skipif(not anvil_available(), reason="anvil binary missing")


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:
        yield node


@pytest.fixture
def chain_platform(anvil: AnvilNode, pg_url: str, tmp_path: Path) -> Iterator[Container]:
    """Factory + coalition token on anvil, mirror in the run's PostgreSQL database (wiped)."""
    from tests.conftest import wipe_postgres

    wipe_postgres(pg_url)
    container = provision(make_settings(pg_url, tmp_path, rpc_urls=anvil.url))
    yield container
    container.close()
    wipe_postgres(pg_url)


def new_brand_token(container: Container, slug: str) -> str:
    assert container.contracts is not None
    minter = container.hot_wallets[0].address
    deployed = create_token(
        container.chain,
        container.contracts.factory.address,
        container.deployer,
        brand_id_bytes(slug),
        slug.title(),
        slug.upper()[:5],
        18,
        0,
        container.deployer.address,
        [minter],
    )
    return deployed.address


def send(container: Container, call: Any) -> Any:
    signer = container.hot_wallets[0]
    return send_and_wait(container.chain, signer, {"to": call.address, "data": call._encode_transaction_data()})


def batch_mint(container: Container, token: str, amounts: dict[str, int]) -> Any:
    entries = b"".join(int(w, 16).to_bytes(20, "big") + a.to_bytes(12, "big") for w, a in amounts.items())
    contract = token_contract(container.chain, token)
    return send(container, contract.functions.batchMint(secrets.token_bytes(32), secrets.token_bytes(32), entries))


def transfer_call_data(to: str, amount: int) -> str:
    return "0xa9059cbb" + "0" * 24 + to[2:].lower() + f"{amount:064x}"


def random_wallet() -> str:
    return to_checksum_address("0x" + secrets.token_hex(20))


def canonical_transfers(url: str, tokens: list[str]) -> set[tuple[str, int, str, str, str, int]]:
    """Every Transfer of `tokens` on the node's canonical chain, straight from eth_getLogs."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getLogs",
        "params": [{"fromBlock": "0x0", "toBlock": "latest", "address": tokens, "topics": [TRANSFER]}],
    }
    logs = httpx.post(url, json=body, timeout=30).json()["result"]
    return {
        (
            entry["transactionHash"],
            int(entry["logIndex"], 16),
            entry["address"].lower(),
            "0x" + entry["topics"][1][26:],
            "0x" + entry["topics"][2][26:],
            int(entry["data"], 16),
        )
        for entry in logs
    }


def mirrored_transfers(container: Container) -> set[tuple[str, int, str, str, str, int]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT tx_hash, log_index, token, from_addr, to_addr, value FROM idx_transfers WHERE chain_id = :c"),
            {"c": container.chain.chain_id},
        ).all()
    return {(r[0], int(r[1]), r[2], r[3], r[4], int(r[5])) for r in rows}


def mirrored_count(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM idx_transfers")).scalar_one())


REPO = Path(__file__).resolve().parents[3]


def indexer_env(container: Container, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(
        LOYALTY_ENV="test",
        LOYALTY_DATABASE_URL=container.settings.database_url,
        LOYALTY_RPC_URLS=container.settings.rpc_urls,
        LOYALTY_DEPLOYMENTS_DIR=str(container.settings.deployments_dir),
        LOYALTY_INDEXER_POLL_S="0.05",
        **extra,
    )
    return env


def start(container: Container, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    """`loyalty indexer run` in a subprocess; with `LOYALTY_INDEXER_TEST_KILL_BEFORE_COMMIT=N` in `extra`, one that
    SIGKILLs itself before the N-th batch's COMMIT (`kill_before_commit`)."""
    crash = KILL_BEFORE_COMMIT_ENV in extra
    module = "tests.integration.indexer.kill_before_commit" if crash else "backend.entrypoints.cli.main"
    return subprocess.Popen(
        [sys.executable, "-m", module, "indexer", "run", *args],
        cwd=REPO,
        env=indexer_env(container, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
