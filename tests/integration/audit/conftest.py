"""A platform on a real anvil node with a mint history (batches, a transfer, a burn), recorded as the pipeline does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from backend.adapters.chain.contracts import brand_id_bytes, create_token, token_contract
from backend.adapters.chain.keys import Signer, dev_account
from backend.adapters.chain.transactions import send_and_wait
from backend.bootstrap import Container, provision
from backend.entrypoints.cli.main import app
from devtools.anvil import AnvilNode, anvil_available
from tests.conftest import make_settings
from tests.integration.audit.history import MintedBatch, batch_mint


@dataclass
class Platform:
    node: AnvilNode
    container: Container
    db_url: str
    factory: str
    coalition: str
    brand_token: str
    holders: list[LocalAccount]
    batches: list[MintedBatch]
    manifests: Path  # exported once by `loyalty audit export`

    @property
    def minter(self) -> Signer:
        return self.container.hot_wallets[0]

    def send(self, signer: Signer, token: str, call: Any) -> dict[str, Any]:
        receipt = send_and_wait(self.container.chain, signer, {"to": token, "data": call._encode_transaction_data()})
        return {"tx_hash": receipt["transactionHash"].to_0x_hex(), "block_number": receipt["blockNumber"]}

    def token(self, address: str) -> Any:
        return token_contract(self.container.chain, address)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def verify(p: Platform, manifests: Path, tmp_path: Path, *extra: str, rpc_url: str | None = None) -> dict[str, Any]:
    """Run `loyalty audit verify` against the whole factory and return the JSON report (+ exit code)."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    args = ["audit", "verify", "--rpc-url", rpc_url or p.node.url, "--manifests", str(manifests)]
    code, output = cli(*args, "--factory", p.factory, "--json", str(report), *extra)
    assert code in (0, 1), output
    body: dict[str, Any] = json.loads(report.read_text())
    body["exit_code"] = code
    body["output"] = output
    return body


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    if not anvil_available():
        pytest.skip("anvil binary missing (npm ci)")
    tmp = tmp_path_factory.mktemp("audit-platform")
    db_url = f"sqlite:///{tmp / 'platform.db'}"
    with AnvilNode() as node:
        container = provision(make_settings(db_url, tmp, rpc_urls=node.url))
        assert container.contracts is not None
        coalition = container.contracts.coalition.address
        factory = container.contracts.factory.address
        minters = [w.address for w in container.hot_wallets]
        brand = create_token(
            container.chain, factory, container.deployer, brand_id_bytes("acme"), "Acme Points", "ACME", 18, 0,
            container.deployer.address, minters,
        ).address  # fmt: skip
        holders = [dev_account(i) for i in (5, 6, 7, 8)]
        w5, w6, w7, _w8 = (h.address for h in holders)
        batches = [
            batch_mint(container, coalition, "1", [("order-1", w5, 10**18), ("order-2", w6, 5), ("order-3", w5, 7)]),
            batch_mint(container, coalition, "2", [("ref-1", w7, 42), ("order-4", w6, 1)]),
            batch_mint(container, brand, "3", [("scan-1", w5, 3)]),
        ]
        p = Platform(node, container, db_url, factory, coalition, brand, holders, batches, tmp / "manifests")
        coalition_token = p.token(coalition)
        p.send(Signer(holders[0]), coalition, coalition_token.functions.transfer(holders[3].address, 10))
        p.send(Signer(holders[1]), coalition, coalition_token.functions.burn(2))
        for _ in range(200):  # mirror the chain with the real indexer
            if not container.streamer.step():
                break
        code, output = cli("audit", "export", "--out", str(p.manifests), "--database-url", db_url)
        assert code == 0, output
        yield p
        container.close()
