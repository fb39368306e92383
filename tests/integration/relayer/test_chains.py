"""Contract calls end to end (a reverted mint is decoded), the in-process chain, and pre-EIP-1559 chains."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.transactions import send_and_wait
from backend.bootstrap import provision
from devtools.anvil import AnvilNode
from tests.conftest import make_settings
from tests.integration.relayer.conftest import POSTGRES_ONLY, SQLITE_ONLY, make_env

HOLDER = to_checksum_address("0x00000000000000000000000000000000000a11ce")


@pytest.mark.anvil
@POSTGRES_ONLY
def test_mint_confirms_and_a_paused_token_fails_with_the_decoded_error(
    node: AnvilNode, db_url: str, tmp_path: Path
) -> None:
    env = make_env(node, db_url, tmp_path, deploy=True)
    try:
        c = env.container
        assert c.contracts is not None
        token = token_contract(c.chain, c.contracts.coalition.address)
        mint = token.functions.mint(HOLDER, 5)._encode_transaction_data()
        env.enqueue("mint-ok", to=token.address, data=bytes.fromhex(mint[2:]), gas_limit=150_000)
        env.drive(env.all_final)
        assert env.intent("mint-ok").state == "confirmed" and token.functions.balanceOf(HOLDER).call() == 5

        pause = token.functions.pause()._encode_transaction_data()
        send_and_wait(c.chain, c.deployer, {"to": token.address, "data": pause})
        env.enqueue("mint-paused", to=token.address, data=bytes.fromhex(mint[2:]), gas_limit=150_000)
        env.drive(env.all_final)
        failed = env.intent("mint-paused")
        assert failed.state == "failed" and failed.error == "EnforcedPause()"
        assert failed.fee_paid_wei and env.mined(failed.tx_hash)  # it was mined (and paid for), then judged
    finally:
        env.container.close()


@SQLITE_ONLY
def test_embedded_eth_tester_chain_confirms_and_decodes_reverts(db_url: str, tmp_path: Path) -> None:
    c = provision(make_settings(db_url, tmp_path, confirmations=1, use_finalized_tag=False))
    try:
        assert c.contracts is not None
        relayer = c.relayer
        token = token_contract(c.chain, c.contracts.coalition.address)
        mint = token.functions.mint(HOLDER, 5)._encode_transaction_data()
        with c.uow() as uow:
            relayer.enqueue(uow.session, purpose="test", ref="e", to=HOLDER, data=b"", gas_limit=21_000)
            uow.commit()
        assert relayer.dispatch()
        send_and_wait(
            c.chain, c.deployer, {"to": token.address, "data": token.functions.pause()._encode_transaction_data()}
        )
        with c.uow() as uow:
            relayer.enqueue(uow.session, purpose="test", ref="paused", to=token.address, data=mint, gas_limit=150_000)
            uow.commit()
        relayer.dispatch()
        for _ in range(3):
            relayer.track()
            c.chain.tester.mine_blocks(1)
        with c.uow() as uow:
            ok = relayer.intent(uow.session, "test", "e")
            assert ok is not None and ok.state == "confirmed" and ok.fee_paid_wei
            paused = relayer.intent(uow.session, "test", "paused")
            assert paused is not None and paused.state == "failed" and paused.error == "EnforcedPause()"
    finally:
        c.close()


@pytest.mark.anvil
def test_chain_without_eip1559_gets_legacy_gas_price_above_min_tip(tmp_path: Path) -> None:
    with AnvilNode(extra_args=["--hardfork", "berlin"]) as legacy_node:
        env = make_env(legacy_node, f"sqlite:///{tmp_path / 'l.db'}", tmp_path, min_priority_fee_gwei=3)
        try:
            quote = env.relayer.fee_oracle.quote()
            assert quote.legacy and quote.max_fee_per_gas >= 3 * 10**9
            env.enqueue("legacy")
            env.drive(env.all_final)
            tx = legacy_node.rpc("eth_getTransactionByHash", env.intent("legacy").tx_hash)
            assert tx["type"] == "0x0" and int(tx["gasPrice"], 16) == quote.max_fee_per_gas
        finally:
            env.container.close()
