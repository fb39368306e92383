"""`loyalty deploy` sets up the shared LoyaltyMinter: recorded in `deployments`, granted to every hot wallet and on
every token the factory creates, upgraded in place on a chain deployed before it, and usable with the backend's
own `mintMany` calldata."""

from __future__ import annotations

from pathlib import Path

from eth_utils import keccak, to_checksum_address
from sqlalchemy import delete, select

from backend.adapters.chain.contracts import (
    MINTER_ROLE,
    brand_id_bytes,
    create_token,
    factory_contract,
    minter_contract,
    token_contract,
)
from backend.adapters.chain.transactions import send_and_wait
from backend.adapters.db import session_scope
from backend.adapters.orm.deployments import Deployment
from backend.bootstrap import Container, deploy, provision
from backend.domain.manifest import ManifestLine, TransferEntry, encode_entries, manifest_tree
from backend.domain.shared_mint import RunBatch, mint_many_calldata
from tests.conftest import make_settings

RELAYER_ROLE = keccak(text="RELAYER_ROLE")


def _one_line(token: str, label: str, wallet: str, amount: int) -> RunBatch:
    root = manifest_tree([ManifestLine(label, wallet, amount)]).root
    return RunBatch(token, bytes.fromhex(f"{len(label):064x}"), root, encode_entries([TransferEntry(wallet, amount)]))


def _recorded_minter(c: Container) -> str | None:
    with session_scope(c.sessions) as session:
        return session.scalar(select(Deployment.address).where(Deployment.name == "minter"))


def test_deploy_records_the_minter_and_one_run_mints_for_the_coalition_and_a_new_brand(tmp_path: Path) -> None:
    c = provision(make_settings(f"sqlite:///{tmp_path / 'loyalty.db'}", tmp_path))
    try:
        contracts = c.contracts
        assert contracts is not None and _recorded_minter(c) == contracts.minter.address
        minter = minter_contract(c.chain, contracts.minter.address)
        assert all(minter.functions.hasRole(RELAYER_ROLE, w.address).call() for w in c.hot_wallets)
        assert factory_contract(c.chain, contracts.factory.address).functions.sharedMinter().call() == minter.address
        brand = create_token(
            c.chain,
            contracts.factory.address,
            c.deployer,
            brand_id_bytes("bakery"),
            "Bakery",
            "BAKE",
            18,
            0,
            c.deployer.address,
            [],
        )
        holder = to_checksum_address("0x" + "ab" * 20)
        batches = [
            _one_line(contracts.coalition.address, "coalition-1", holder, 5),
            _one_line(brand.address, "bakery-1", holder, 7),
        ]
        tx = {"to": minter.address, "data": mint_many_calldata(0, batches)}
        assert send_and_wait(c.chain, c.hot_wallets[0], tx)["status"] == 1
        balances = [token_contract(c.chain, b.token).functions.balanceOf(holder).call() for b in batches]
        assert balances == [5, 7]
        assert deploy(c) == contracts  # idempotent: the same minter again
    finally:
        c.close()


def test_a_chain_deployed_before_the_minter_gets_one_on_the_next_deploy(tmp_path: Path) -> None:
    c = provision(make_settings(f"sqlite:///{tmp_path / 'loyalty.db'}", tmp_path))
    try:
        before = c.contracts
        assert before is not None
        with session_scope(c.sessions) as session:
            session.execute(delete(Deployment).where(Deployment.name == "minter"))
        after = deploy(c)
        assert (after.factory, after.coalition) == (before.factory, before.coalition)
        assert after.minter.address != before.minter.address
        assert factory_contract(c.chain, after.factory.address).functions.sharedMinter().call() == after.minter.address
        coalition = token_contract(c.chain, after.coalition.address)
        assert coalition.functions.hasRole(MINTER_ROLE, after.minter.address).call()  # granted by its admin
    finally:
        c.close()
