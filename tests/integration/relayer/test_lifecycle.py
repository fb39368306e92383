"""The everyday path and what goes wrong in production: stuck, dropped, reorged, crashed, capped, reverted."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from backend.services.relayer import IntentConflict, InvalidIntent
from devtools.anvil import AnvilNode
from tests.integration.relayer.conftest import GWEI, SQLITE_ONLY, RelayEnv, make_env

pytestmark = [pytest.mark.anvil]


def test_intent_is_confirmed_only_at_depth_with_receipt_data(env: RelayEnv) -> None:
    env.enqueue("a")
    assert env.relayer.dispatch()
    env.relayer.track()
    intent = env.intent("a")
    assert intent.state == "included" and intent.block_number is not None  # automine: mined at once
    assert intent.gas_used == 21_000 and intent.fee_paid_wei == 21_000 * intent.effective_gas_price
    env.node.mine(1)  # one block on top of the receipt's block = LOYALTY_CONFIRMATIONS (1)
    env.relayer.track()
    intent = env.intent("a")
    assert intent.state == "confirmed" and intent.confirmed_at is not None
    assert env.mined(intent.tx_hash)


def test_enqueue_is_idempotent_on_purpose_and_ref_and_validates(env: RelayEnv) -> None:
    env.enqueue("same")
    env.enqueue("same", gas_limit=30_000)  # another gas estimate: the same intent
    assert len(env.intents()) == 1 and env.intent("same").gas_limit == 21_000
    with pytest.raises(IntentConflict):
        env.enqueue("same", data=b"other")
    with pytest.raises(InvalidIntent):
        env.enqueue("zero", to="0x0000000000000000000000000000000000000000")
    with pytest.raises(InvalidIntent):
        env.enqueue("huge", gas_limit=2**25 + 1)  # Polygon's per-transaction gas cap
    assert len(env.intents()) == 1


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"chain_id": "31337", **labels}) or 0.0


def test_stuck_after_base_fee_spike_is_replaced_with_110_percent_and_mines_once(env: RelayEnv) -> None:
    replacements_before = _metric("loyalty_relayer_replacements_total")
    env.node.set_automine(False)
    env.enqueue("spike")
    env.relayer.dispatch()
    first = env.attempts("spike")[0]
    env.node.rpc("anvil_setNextBlockBaseFeePerGas", hex(first.max_fee_per_gas * 20))
    env.node.mine(1)
    assert not env.mined(first.tx_hash)  # priced out
    assert not env.relayer.track()  # nothing to do but wait: the runner must not spin on it
    assert len(env.attempts("spike")) == 1  # not stuck yet: replace_after_blocks = 3
    env.node.mine(2)
    env.relayer.track()
    attempts = env.attempts("spike")
    assert len(attempts) == 2
    old, new = attempts
    assert new.nonce == old.nonce and new.kind == "replacement"
    assert new.max_fee_per_gas * 100 >= old.max_fee_per_gas * 110
    assert new.max_priority_fee_per_gas * 100 >= old.max_priority_fee_per_gas * 110
    env.drive(env.all_final)
    intent = env.intent("spike")
    assert intent.state == "confirmed" and intent.tx_hash == new.tx_hash
    assert [env.mined(a.tx_hash) for a in attempts] == [False, True]
    assert env.nonce(env.intent("spike").wallet) == 1
    assert _metric("loyalty_relayer_replacements_total") == replacements_before + 1


def test_dropped_transaction_is_rebroadcast_byte_identical(env: RelayEnv) -> None:
    env.node.set_automine(False)
    env.enqueue("drop")
    env.relayer.dispatch()
    attempt = env.attempts("drop")[0]
    env.node.rpc("anvil_dropTransaction", attempt.tx_hash)
    assert env.node.rpc("eth_getTransactionByHash", attempt.tx_hash) is None
    env.relayer.track()
    assert env.node.rpc("eth_getRawTransactionByHash", attempt.tx_hash) == attempt.raw_tx
    env.drive(env.all_final)
    assert env.intent("drop").tx_hash == attempt.tx_hash and len(env.attempts("drop")) == 1


def test_reorg_sends_intent_back_to_submitted_then_confirms_again(env: RelayEnv) -> None:
    env.node.mine(3)
    env.enqueue("reorg")
    env.relayer.dispatch()
    env.relayer.track()
    first_block = env.intent("reorg").block_number
    assert env.intent("reorg").state == "included"
    env.node.reorg(2)  # the block with our tx and the one before are replaced by empty blocks
    assert not env.mined(env.intent("reorg").tx_hash)
    env.node.set_automine(False)
    env.relayer.track()
    assert env.intent("reorg").state == "submitted" and env.intent("reorg").block_number is None
    env.drive(env.all_final)
    intent = env.intent("reorg")
    assert intent.state == "confirmed" and intent.block_number != first_block
    assert len(env.attempts("reorg")) == 1 and env.nonce(env.intent("reorg").wallet) == 1


def test_crash_between_sign_and_broadcast_resends_the_same_bytes(env: RelayEnv) -> None:
    env.enqueue("crash")
    assert env.relayer.sign_queued(broadcast=False) == 1  # committed, never sent: the process dies here
    stored = env.attempts("crash")[0]
    assert env.node.rpc("eth_getTransactionByHash", stored.tx_hash) is None
    env.restart()  # a new process
    env.drive(env.all_final)
    assert env.node.rpc("eth_getRawTransactionByHash", stored.tx_hash) == stored.raw_tx
    assert env.intent("crash").state == "confirmed" and len(env.attempts("crash")) == 1
    assert env.nonce(env.intent("crash").wallet) == 1


@SQLITE_ONLY
def test_fee_cap_holds_intent_with_reason_until_raised(env: RelayEnv) -> None:
    env.restart(max_fee_per_tx_wei=21_000 * GWEI // 10)  # 0.1 gwei per gas: below anvil's 1 gwei base fee
    env.enqueue("capped")
    env.relayer.dispatch()
    intent = env.intent("capped")
    assert intent.state == "queued"
    assert intent.waiting_reason is not None and intent.waiting_reason.startswith("fees above cap: quote ")
    assert "> cap 0.1 gwei" in intent.waiting_reason
    env.restart(max_fee_per_tx_wei=21_000 * 100 * GWEI)
    env.drive(env.all_final)
    assert env.intent("capped").state == "confirmed" and env.intent("capped").waiting_reason is None


@SQLITE_ONLY
def test_hourly_spend_cap_counts_fees_paid(env: RelayEnv) -> None:
    quote = env.relayer.fee_oracle.quote()
    env.restart(max_spend_per_hour_wei=quote.max_fee_per_gas * 21_000 * 3 // 2)  # room for one tx, not two
    env.enqueue("h1")
    env.enqueue("h2")
    env.drive(lambda: env.intent("h1").state == "confirmed")
    h2 = env.intent("h2")
    assert h2.state == "queued" and (h2.waiting_reason or "").startswith("fees above cap: hourly spend")


@SQLITE_ONLY
def test_min_tip_floor_and_base_fee_cover(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    e = make_env(node, db_url, tmp_path, min_priority_fee_gwei=25)
    try:
        quote = e.relayer.fee_oracle.quote()
        base = int(node.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
        assert quote.max_priority_fee_per_gas is not None and quote.max_priority_fee_per_gas >= 25 * GWEI
        assert quote.max_fee_per_gas >= base * 14 // 10 + quote.max_priority_fee_per_gas  # 3 blocks of +12.5 %
        e.enqueue("tip")
        e.drive(e.all_final)
        tx = node.rpc("eth_getTransactionByHash", e.intent("tip").tx_hash)
        assert int(tx["maxPriorityFeePerGas"], 16) >= 25 * GWEI
    finally:
        e.container.close()


@SQLITE_ONLY
def test_finalized_tag_replaces_the_depth_count(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    e = make_env(node, db_url, tmp_path, confirmations=0, use_finalized_tag=True)
    try:
        e.enqueue("fin")
        e.relayer.dispatch()
        node.mine(3)
        e.relayer.track()
        assert e.intent("fin").state == "included"  # deep enough for LOYALTY_CONFIRMATIONS, not finalized
        node.mine(64)  # anvil finalizes head - 64
        e.relayer.track()
        assert e.intent("fin").state == "confirmed"
    finally:
        e.container.close()
