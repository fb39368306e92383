"""The minting pipeline on anvil + PostgreSQL: credit becomes balance exactly once, whatever happens."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from backend.adapters.chain.contracts import token_contract
from backend.adapters.orm.minting import BatchItem, CreditOutbox, MintBatch, OperatorAlert
from backend.entrypoints.api.app import create_app
from backend.services.minting.builder import PURPOSE, BatchBuilder, rebuild_calldata
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


def test_credit_becomes_exactly_its_sum_on_chain_with_verifiable_manifests(env: MintEnv) -> None:
    env.overrides["batch_max_recipients"] = 7  # several batches per token
    pipeline = env.pipeline(env.container())
    env.credit(env.coalition, new_wallets(12), per_wallet=3)
    env.credit(env.brand_token, new_wallets(9), per_wallet=2)

    env.drain(pipeline)

    env.assert_chain_matches_ledger()
    batches = env.fetch(select(MintBatch))
    assert len(batches) >= 4 and {b.state for b in batches} == {"confirmed"}
    assert all(b.recipients <= 7 and b.tx_hash and b.gas_used for b in batches)
    for batch in batches:
        token = token_contract(env.main.chain, batch.token_address)
        assert "0x" + token.functions.batchManifestRoot(bytes.fromhex(batch.batch_id[2:])).call().hex() == (
            batch.manifest_root
        )

    client = TestClient(create_app(env.main))
    listed = client.get("/v1/batches", params={"limit": 100}).json()["items"]
    assert {b["batch_id"] for b in listed} == {b.batch_id for b in batches}
    detail = client.get(f"/v1/batches/{batches[0].batch_id}").json()
    assert detail["state"] == "confirmed" and len(detail["manifest"]) == batches[0].actions
    token = token_contract(env.main.chain, batches[0].token_address)
    for line in detail["manifest"]:
        assert token.functions.verifyManifestLeaf(
            bytes.fromhex(batches[0].batch_id[2:]),
            bytes.fromhex(line["leaf"][2:]),
            [bytes.fromhex(p[2:]) for p in line["proof"]],
        ).call()
    assert client.get("/v1/batches/0x" + "ab" * 32).status_code == 404
    action = detail["manifest"][0]["action_id"]
    assert [b["batch_id"] for b in client.get("/v1/batches", params={"action_id": action}).json()["items"]] == [
        batches[0].batch_id
    ]
    metrics = client.get("/metrics").text
    assert "loyalty_batch_size_count" in metrics and "loyalty_pending_credit 0.0" in metrics


def test_concurrent_builders_never_put_one_credit_in_two_batches(env: MintEnv) -> None:
    env.credit(env.coalition, new_wallets(60), per_wallet=4)
    containers = [env.container(batch_max_recipients=5) for _ in range(4)]
    relayer = env.main.relayer
    builders = [BatchBuilder(c.sessions, c.chain, c.settings, relayer) for c in containers for _ in range(2)]
    barrier = threading.Barrier(len(builders))
    errors: list[BaseException] = []

    def run(builder: BatchBuilder) -> None:
        try:
            barrier.wait()
            # NOTE: a token's next batch is built once its last one is sent, so the builders dispatch and track too
            while builder.build() or relayer.dispatch() or relayer.track():
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in builders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    items = env.fetch(select(BatchItem).where(BatchItem.active.is_(True)))
    credits = env.fetch(select(CreditOutbox))
    assert {c.state for c in credits} == {"batched"}
    per_credit = Counter(i.credit_outbox_id for i in items)
    assert set(per_credit.values()) == {1} and len(per_credit) == len(credits)
    assert all(c.batch_id == next(i.batch_id for i in items if i.credit_outbox_id == c.id) for c in credits)

    env.drain()
    env.assert_chain_matches_ledger()


def test_restarts_between_every_step_and_duplicate_deliveries_mint_once(env: MintEnv) -> None:
    env.credit(env.coalition, new_wallets(8), per_wallet=2)
    env.credit(env.brand_token, new_wallets(5), per_wallet=1)

    env.pipeline(env.container()).build()  # crash after build: a new process picks it up
    p2 = env.pipeline(env.container())
    p2.build()  # duplicate delivery: nothing left to claim
    p2.dispatch()  # signed and broadcast (automine: mined at once), then the process dies before its receipt
    p3 = env.pipeline(env.container())
    p3.dispatch()
    env.node.mine(2)
    p3.track()
    p3.track()
    p4 = env.pipeline(env.container())
    p4.settle()
    p4.settle()
    env.drain(env.pipeline(env.container()))

    env.assert_chain_matches_ledger()
    assert {b.state for b in env.fetch(select(MintBatch))} == {"confirmed"}


def test_replayed_batch_is_recognised_as_landed_and_never_minted_twice(env: MintEnv) -> None:
    env.credit(env.coalition, new_wallets(6), per_wallet=2)
    env.drain()
    env.assert_chain_matches_ledger()
    (batch,) = env.fetch(select(MintBatch))

    # The relayer's record of the landed batch is lost (e.g. restored backup): it is enqueued again.
    relayer = env.main.relayer
    with env.main.uow() as uow:
        s = uow.session
        s.execute(
            text(
                "DELETE FROM relay_attempts WHERE intent_id IN"
                " (SELECT id FROM relay_intents WHERE purpose = :p AND ref = :r)"
            ),
            {"p": PURPOSE, "r": batch.batch_id},
        )
        s.execute(
            text("DELETE FROM relay_intents WHERE purpose = :p AND ref = :r"), {"p": PURPOSE, "r": batch.batch_id}
        )
        s.execute(update(MintBatch).where(MintBatch.batch_id == batch.batch_id).values(state="built"))
        s.execute(update(CreditOutbox).where(CreditOutbox.batch_id == batch.batch_id).values(state="batched"))
        relayer.enqueue(
            s,
            purpose=PURPOSE,
            ref=batch.batch_id,
            to=batch.token_address,
            data=rebuild_calldata(s, batch.batch_id),
            gas_limit=1_000_000,
        )
        uow.commit()

    env.drain()

    env.assert_chain_matches_ledger()
    assert [b.state for b in env.fetch(select(MintBatch))] == ["confirmed"]


def test_paused_token_returns_credit_with_a_reason_and_mints_after_unpause(env: MintEnv) -> None:
    wallets = new_wallets(4)
    env.credit(env.brand_token, wallets, per_wallet=2)
    pipeline = env.pipeline()
    assert pipeline.build()
    env.send(env.brand_token, lambda f: f.pause())

    for _ in range(10):
        pipeline.dispatch()
        env.node.mine(1)
        pipeline.track()
        pipeline.settle()
        if env.count("pending") == 8:
            break
    reasons = set(env.fetch(select(CreditOutbox.reason)))
    alerts = env.fetch(select(OperatorAlert))
    (failed,) = env.fetch(select(MintBatch))
    assert env.count("pending") == 8
    assert len(reasons) == 1 and "paused" in str(next(iter(reasons)))
    assert [a.kind for a in alerts] == ["batch-failed"] and failed.state == "failed"
    assert not pipeline.build()  # still paused: no gas spent on a doomed batch

    env.send(env.brand_token, lambda f: f.unpause())
    env.drain(pipeline)
    env.assert_chain_matches_ledger()
    assert sorted(b.state for b in env.fetch(select(MintBatch))) == ["confirmed", "failed"]
    assert set(env.fetch(select(CreditOutbox.reason))) == {None}


def test_reorg_that_removes_a_mined_batch_mints_it_once(env: MintEnv) -> None:
    env.overrides["confirmations"] = 2
    pipeline = env.pipeline(env.container())
    env.credit(env.coalition, new_wallets(5), per_wallet=2)
    assert pipeline.build()
    pipeline.dispatch()  # automine: included in the next block
    pipeline.track()
    assert env.fetch(select(MintBatch.state)) in (["submitted"], ["included"])

    env.node.reorg(1)  # the block with the batch is replaced by an empty one
    env.drain(pipeline)

    env.assert_chain_matches_ledger()
    assert env.fetch(select(MintBatch.state)) == ["confirmed"]
