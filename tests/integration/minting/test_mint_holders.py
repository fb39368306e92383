"""Holder pricing from the indexer's mirror (no balanceOf per recipient), and batch gas limits from eth_estimateGas."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.keys import Signer, dev_account
from backend.adapters.chain.transactions import send_and_wait
from backend.adapters.orm.minting import MintBatch
from backend.adapters.orm.relayer import RelayAttempt, RelayIntent
from backend.services.minting.builder import PURPOSE
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


def _index(env: MintEnv) -> None:
    """Run the indexer until its mirror has reached the head."""
    for _ in range(50):
        if not env.main.streamer.step():
            return
    raise AssertionError("the indexer did not catch up")


def _fresh(env: MintEnv, token: str, wallets: list[str]) -> set[str]:
    builder = env.pipeline().builder
    with env.main.uow() as uow:
        return builder.holders.fresh_wallets(uow.session, env.main.chain.chain_id, token, wallets)


def test_a_holder_who_sent_everything_away_is_priced_fresh_and_the_batch_confirms(env: MintEnv) -> None:
    token = env.coalition
    leaver = Signer(dev_account(9))  # a shopper wallet we hold the key of
    stayer, newcomer = new_wallets(2)
    env.credit(token, [leaver.address, stayer], per_wallet=1)
    env.drain()
    assert _fresh(env, token, [leaver.address, stayer]) == {leaver.address, stayer}  # mirror behind: all fresh
    _index(env)
    assert _fresh(env, token, [leaver.address, stayer, newcomer]) == {newcomer}  # no RPC for the newcomer

    contract = token_contract(env.main.chain, token)
    balance = contract.functions.balanceOf(leaver.address).call()
    send = contract.functions.transfer(stayer, balance)._encode_transaction_data()
    send_and_wait(env.main.chain, leaver, {"to": token, "data": send})
    assert _fresh(env, token, [leaver.address]) == set()  # the mirror has not seen the transfer: 1 block behind
    _index(env)
    assert _fresh(env, token, [leaver.address, stayer]) == {leaver.address}  # balance 0 in the mirror: fresh again

    env.credit(token, [leaver.address, stayer], per_wallet=1, prefix="b")
    env.drain()
    batches = env.fetch(select(MintBatch).order_by(MintBatch.created_at))
    assert len(batches) == 2 and {b.state for b in batches} == {"confirmed"}
    model = env.pipeline().builder.model
    intent = env.fetch(
        select(RelayIntent).where(RelayIntent.purpose == PURPOSE, RelayIntent.ref == batches[1].batch_id)
    )[0]
    assert intent.gas_limit == int(model.estimate(1, 1) * env.main.settings.batch_gas_headroom) + model.slack
    assert contract.functions.balanceOf(leaver.address).call() > 0


def test_a_batch_is_signed_with_its_gas_estimate_plus_ten_percent_not_the_models_limit(env: MintEnv) -> None:
    env.credit(env.coalition, new_wallets(40), per_wallet=1)
    env.drain()
    (batch,) = env.fetch(select(MintBatch))
    intent = env.fetch(select(RelayIntent).where(RelayIntent.ref == batch.batch_id))[0]
    (attempt,) = env.fetch(select(RelayAttempt).where(RelayAttempt.intent_id == intent.id))
    assert batch.state == "confirmed" and batch.recipients == 40 and batch.gas_used
    assert batch.gas_used * 1.1 <= attempt.gas_limit <= batch.gas_used * 1.15  # estimate ≈ gas used
    assert attempt.gas_limit < intent.gas_limit  # the cost model's 1.2 × estimate + slack stays the bound
