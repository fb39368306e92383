"""Small brands share one `LoyaltyMinter.mintMany` transaction (a run): one lane, one run id, each token's batch
with its own id, manifest and `BatchMinted`; a lone small batch waits for company up to LOYALTY_SHARED_RUN_WAIT_S;
a run that landed through an earlier transaction is recognised by its run id and root and never minted twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.adapters.chain.contracts import brand_id_bytes, create_token
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import MintBatch, MintRun
from backend.adapters.orm.relayer import RelayIntent
from backend.services.minting.runs import RUN_PURPOSE
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


def small_brands(env: MintEnv, n: int) -> list[str]:
    c = env.main
    assert c.contracts is not None
    return [
        create_token(
            c.chain,
            c.contracts.factory.address,
            c.deployer,
            brand_id_bytes(f"small-{i}-{env.tmp_path.name}"),
            f"Small {i}",
            f"SM{i}",
            18,
            0,
            c.deployer.address,
            [w.address for w in c.hot_wallets],
        ).address
        for i in range(n)
    ]


def test_small_brands_share_one_transaction_and_each_keeps_its_batch(env: MintEnv) -> None:
    tokens = small_brands(env, 4)
    for n, token in enumerate(tokens):
        env.credit(token, new_wallets(1), per_wallet=1, prefix=f"s{n}")
    pipeline = env.pipeline(env.container(shared_run_wait_s=3600))  # company alone makes them go

    built = pipeline.builder.build()

    assert len(built) == 4 and len({b.run_ref for b in built}) == 1 and built[0].run_ref
    env.drain(pipeline)
    env.assert_chain_matches_ledger()
    intents = env.fetch(select(RelayIntent).where(RelayIntent.purpose == RUN_PURPOSE))
    assert len(intents) == 1 and intents[0].state == "confirmed"
    batches = env.fetch(select(MintBatch).where(MintBatch.run_ref == intents[0].ref))
    assert {b.token_address for b in batches} == set(tokens) and {b.state for b in batches} == {"confirmed"}
    assert {b.tx_hash for b in batches} == {intents[0].tx_hash}
    assert abs(sum(int(b.gas_used or 0) for b in batches) - int(intents[0].gas_used or 0)) <= len(batches)
    [run] = env.fetch(select(MintRun))
    assert run.batches == 4 and intents[0].ref == run.ref

    # the next run (tokens and the run bitmap word in use): cheaper per action than a plain mint to a new holder
    for n, token in enumerate(tokens):
        env.credit(token, new_wallets(1), per_wallet=1, prefix=f"t{n}")
    env.drain(pipeline)
    env.assert_chain_matches_ledger()
    second = env.fetch(select(RelayIntent).where(RelayIntent.purpose == RUN_PURPOSE, RelayIntent.id != intents[0].id))
    assert len(second) == 1 and int(second[0].gas_used or 0) < 4 * 55_989


def test_a_lone_small_batch_waits_for_company_then_goes(env: MintEnv) -> None:
    [token] = small_brands(env, 1)
    env.credit(token, new_wallets(1), per_wallet=1)
    pipeline = env.pipeline(env.container(shared_run_wait_s=10))

    assert pipeline.builder.build() == []  # alone it would cost more than a plain mint: it waits

    pipeline.builder.clock = lambda: utcnow() + timedelta(seconds=11)  # the latency bound is reached
    assert [b.token for b in pipeline.builder.build()] == [token]
    env.drain(pipeline)
    env.assert_chain_matches_ledger()


def test_a_run_that_landed_earlier_is_counted_not_minted_again(env: MintEnv) -> None:
    tokens = small_brands(env, 3)
    for n, token in enumerate(tokens):
        env.credit(token, new_wallets(1), per_wallet=1, prefix=f"l{n}")
    c = env.container(shared_run_wait_s=3600)
    pipeline = env.pipeline(c)
    assert len(pipeline.builder.build()) == 3
    [intent] = env.fetch(select(RelayIntent).where(RelayIntent.purpose == RUN_PURPOSE))
    # the same run lands through another transaction first (e.g. a resend from a crashed process's signed bytes)
    env.node.rpc(
        "eth_sendTransaction", {"from": c.hot_wallets[0].address, "to": intent.to_address, "data": intent.data}
    )

    env.drain(pipeline)

    env.assert_chain_matches_ledger()  # minted once: the relayer's own send could not mint it again
    [again] = env.fetch(select(RelayIntent).where(RelayIntent.purpose == RUN_PURPOSE))
    assert again.state == "failed" and "RunAlreadyMinted" in (again.error or "")
    assert {b.state for b in env.fetch(select(MintBatch))} == {"confirmed"}
