"""A reorg deeper than the confirmation depth after a batch was settled: the credit goes back to batched, is sent
again and minted exactly once; the hot wallets keep working (anvil + PostgreSQL, mining on demand)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from eth_utils import to_checksum_address
from sqlalchemy import select, text

from backend.adapters.chain.transactions import send_and_wait
from backend.adapters.orm.minting import CreditOutbox, MintBatch, OperatorAlert
from backend.adapters.orm.notifications import PlatformEvent
from backend.adapters.orm.relayer import RelayIntent
from backend.services.minting.pipeline import MintingPipeline
from backend.services.minting.reorgs import REORGED_REASON
from backend.services.minting.settlement import BATCH_MINTED_TOPIC
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
BRAND = 7


def _settled_pipeline(env: MintEnv) -> MintingPipeline:
    """Two tokens' batches minted, confirmed at depth 2 (no finalized tag) and settled; anvil mines on demand."""
    env.overrides.update(confirmations=2, use_finalized_tag=False, reorg_watch_every_s=0)
    pipeline = env.pipeline(env.container())
    env.node.mine(10)
    env.node.set_automine(False)
    env.credit(env.coalition, new_wallets(5), per_wallet=2)
    env.credit(env.brand_token, new_wallets(3), per_wallet=1)
    with env.main.engine.begin() as conn:  # brand-owned credit: the batches notify that brand
        conn.execute(text("UPDATE credit_outbox SET brand_id = :b"), {"b": BRAND})
    env.drain(pipeline)
    env.assert_chain_matches_ledger()
    return pipeline


def _batch_minted_logs(env: MintEnv) -> Counter[str]:
    """How often each batch id's `BatchMinted` is on the canonical chain."""
    seen: Counter[str] = Counter()
    for token in (env.coalition, env.brand_token):
        logs = env.main.chain.w3.eth.get_logs(
            {"address": to_checksum_address(token), "topics": [BATCH_MINTED_TOPIC], "fromBlock": 0, "toBlock": "latest"}  # type: ignore[typeddict-item]
        )
        seen.update(log["topics"][1].to_0x_hex() for log in logs)
    return seen


def _nonces_in_order(env: MintEnv, foreign: dict[str, set[int]] | None = None) -> None:
    """Per hot wallet: our final intents and any foreign transactions hold nonces 0..n-1, and the chain used all."""
    held: dict[str, list[int]] = defaultdict(list)
    for intent in env.fetch(select(RelayIntent)):
        assert intent.state == "confirmed", intent
        held[str(intent.wallet)].append(int(intent.nonce or 0))
    for wallet, extra in (foreign or {}).items():
        held[wallet].extend(extra)
    w3 = env.main.chain.w3
    for wallet, nonces in held.items():
        assert sorted(nonces) == list(range(len(nonces))), (wallet, sorted(nonces))
        assert w3.eth.get_transaction_count(to_checksum_address(wallet)) == len(nonces)  # type: ignore[arg-type]


def test_a_settled_batch_reorged_away_is_minted_again_exactly_once(env: MintEnv) -> None:
    pipeline = _settled_pipeline(env)
    before = {b.batch_id: b for b in env.fetch(select(MintBatch))}
    assert len(before) == 2 and {b.state for b in before.values()} == {"confirmed"}
    assert _batch_minted_logs(env) == Counter(dict.fromkeys(before, 1))
    head = env.main.chain.head()
    assert all(head - int(b.block_number or 0) < 5 for b in before.values())  # the reorg below reaches them

    env.node.reorg(5)  # deeper than the 2 confirmations; anvil drops the transactions of those blocks
    assert _batch_minted_logs(env) == Counter()
    pipeline.track()  # the relayer notices and sends the same bytes again (not mined yet: mining on demand)
    pipeline.settle()  # the settlement is undone

    assert env.count("minted") == 0 and env.count("batched") == 13
    assert set(env.fetch(select(CreditOutbox.reason))) == {REORGED_REASON}
    reorged = env.fetch(select(MintBatch))
    assert {b.state for b in reorged} == {"submitted"} and {b.block_hash for b in reorged} == {None}
    alerts = env.fetch(select(OperatorAlert).where(OperatorAlert.kind == "deep-reorg"))
    assert {a.batch_id for a in alerts} == set(before) and {a.severity for a in alerts} == {"critical"}
    assert all(str(before[a.batch_id].block_number) in a.message for a in alerts)
    events = env.fetch(select(PlatformEvent.type).where(PlatformEvent.brand_id == BRAND))
    assert Counter(events) == Counter({"batch.confirmed": 2, "batch.reorged": 2})

    env.drain(pipeline)

    env.assert_chain_matches_ledger()  # every wallet's balanceOf == its minted credit
    assert _batch_minted_logs(env) == Counter(dict.fromkeys(before, 1))
    after = {b.batch_id: b for b in env.fetch(select(MintBatch))}
    assert {b.state for b in after.values()} == {"confirmed"}
    assert all(after[i].tx_hash == before[i].tx_hash and after[i].block_hash != before[i].block_hash for i in after)
    assert Counter(env.fetch(select(PlatformEvent.type))) == Counter({"batch.confirmed": 4, "batch.reorged": 2})

    env.credit(env.coalition, new_wallets(2), per_wallet=1, prefix="late")  # a new batch after the reorg
    env.drain(pipeline)
    env.assert_chain_matches_ledger()
    assert len(env.fetch(select(MintBatch))) == 3 and len(_batch_minted_logs(env)) == 3
    _nonces_in_order(env)


def test_a_reorged_batch_whose_nonce_went_to_another_tx_is_signed_again_and_minted_once(env: MintEnv) -> None:
    pipeline = _settled_pipeline(env)
    before = {b.batch_id: b for b in env.fetch(select(MintBatch))}
    victim = min(before.values(), key=lambda b: (str(b.wallet), int(b.nonce or 0)))
    env.node.reorg(5)
    # the same hot wallet's key spends the batch's nonce on the new chain first (another process, an operator)
    signer = next(w for w in env.main.hot_wallets if w.address == victim.wallet)
    env.node.set_automine(True)
    send_and_wait(env.main.chain, signer, {"to": signer.address, "value": 0, "gas": 21_000, "nonce": victim.nonce})
    env.node.set_automine(False)
    env.node.mine(3)  # buried under the confirmation depth: our bytes can never mine again

    env.drain(pipeline)

    env.assert_chain_matches_ledger()
    assert _batch_minted_logs(env) == Counter(dict.fromkeys(before, 1))
    after = env.fetch(select(MintBatch).where(MintBatch.batch_id == victim.batch_id))[0]
    assert after.state == "confirmed" and after.tx_hash != victim.tx_hash  # re-signed, landed once
    alerts = env.fetch(select(OperatorAlert.batch_id).where(OperatorAlert.kind == "deep-reorg"))
    assert set(alerts) == set(before)
    _nonces_in_order(env, {str(victim.wallet): {int(victim.nonce or 0)}})


def test_a_reorged_batch_that_can_no_longer_land_goes_back_to_pending_and_is_rebuilt_once(env: MintEnv) -> None:
    pipeline = _settled_pipeline(env)
    before = {b.batch_id: b for b in env.fetch(select(MintBatch))}
    (victim,) = [b for b in before.values() if b.token_address == env.coalition]
    env.node.reorg(5)
    env.node.set_automine(True)  # on the new chain the token is paused before our bytes are sent again
    env.send(env.coalition, lambda f: f.pause())
    env.node.set_automine(False)
    for _ in range(6):  # the same bytes revert now (EnforcedPause): the batch can never land
        pipeline.track()
        env.node.mine(1)
        pipeline.settle()
    failed = env.fetch(select(MintBatch).where(MintBatch.batch_id == victim.batch_id))[0]
    assert failed.state == "failed" and "EnforcedPause" in str(failed.reason)
    assert env.count("pending") == victim.actions and env.count("batched") == 0

    env.node.set_automine(True)
    env.send(env.coalition, lambda f: f.unpause())
    env.node.set_automine(False)
    env.drain(pipeline)

    env.assert_chain_matches_ledger()
    minted = _batch_minted_logs(env)
    assert victim.batch_id not in minted and sum(minted.values()) == len(minted) == 2  # rebuilt into one new batch
    states = Counter(b.state for b in env.fetch(select(MintBatch)))
    assert states == Counter({"confirmed": 2, "failed": 1})


def test_a_batch_confirmed_again_before_settlement_noticed_the_reorg_is_undone_and_redone_in_one_settle_run(
    env: MintEnv,
) -> None:
    pipeline = _settled_pipeline(env)
    before = {b.batch_id: b for b in env.fetch(select(MintBatch))}
    env.node.reorg(5)
    for _ in range(6):  # re-opened, sent again, confirmed again: the settle step has not run meanwhile
        pipeline.track()
        if {i.state for i in env.fetch(select(RelayIntent))} == {"confirmed"}:
            break
        env.node.mine(1)
    assert {i.state for i in env.fetch(select(RelayIntent))} == {"confirmed"}

    settled = pipeline.settlement.settle()

    assert sorted(s.outcome for s in settled) == ["confirmed", "confirmed", "reorged", "reorged"]  # undone, redone
    env.assert_chain_matches_ledger()
    after = {b.batch_id: b for b in env.fetch(select(MintBatch))}
    assert all(after[i].state == "confirmed" and after[i].block_hash != before[i].block_hash for i in after)
    alerts = env.fetch(select(OperatorAlert.batch_id).where(OperatorAlert.kind == "deep-reorg"))
    assert sorted(alerts) == sorted(before)
    assert Counter(env.fetch(select(PlatformEvent.type))) == Counter({"batch.confirmed": 4, "batch.reorged": 2})
    assert not pipeline.settlement.settle()  # exactly once
