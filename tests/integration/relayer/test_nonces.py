"""Nonces stay gapless and unique: drift either way, unusable nonces filled, cancellations, several wallets."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from backend.adapters.chain.transactions import send_and_wait
from backend.adapters.orm.relayer import FILLER_PURPOSE, HotWalletState
from devtools.anvil import AnvilNode
from devtools.rpc_proxy import Fault, RpcProxy
from tests.integration.relayer.conftest import RelayEnv, make_env

pytestmark = [pytest.mark.anvil]


@pytest.fixture
def one_wallet(node: AnvilNode, db_url: str, tmp_path: Path) -> Iterator[RelayEnv]:
    e = make_env(node, db_url, tmp_path, hot_wallet_count=1)
    yield e
    e.container.close()


def test_chain_ahead_key_used_elsewhere_skips_forward_and_resigns(one_wallet: RelayEnv) -> None:
    env = one_wallet
    wallet = env.wallets[0]
    env.enqueue("before")
    env.drive(env.all_final)
    for _ in range(2):  # an operator uses the hot wallet's key by hand
        send_and_wait(env.container.chain, env.container.hot_wallets[0], {"to": wallet, "value": 0, "gas": 21_000})
    env.enqueue("after")
    env.drive(env.all_final)
    after = env.intent("after")
    assert after.state == "confirmed" and after.nonce == 3
    attempts = env.attempts("after")
    assert attempts[0].nonce == 1 and attempts[0].status == "dead"  # signed on a nonce someone else used
    assert env.mined(after.tx_hash) and env.nonce(wallet) == 4 and env.next_nonce(wallet) == 4


def test_chain_behind_dropped_transactions_are_rebroadcast_in_nonce_order(one_wallet: RelayEnv) -> None:
    env = one_wallet
    wallet = env.wallets[0]
    env.node.set_automine(False)
    for ref in ("d0", "d1", "d2"):
        env.enqueue(ref)
    env.relayer.dispatch()
    originals = {ref: env.attempts(ref)[0] for ref in ("d0", "d1", "d2")}
    for attempt in originals.values():
        env.node.rpc("anvil_dropTransaction", attempt.tx_hash)
    assert env.nonce(wallet, "pending") == 0 and env.next_nonce(wallet) == 3
    env.drive(env.all_final)
    for ref, attempt in originals.items():
        intent = env.intent(ref)
        assert intent.state == "confirmed" and intent.tx_hash == attempt.tx_hash  # the same signed bytes
    assert env.nonce(wallet) == 3


def test_nonce_released_by_a_rejected_transaction_is_filled_so_later_ones_mine(
    node: AnvilNode, db_url: str, tmp_path: Path
) -> None:
    with RpcProxy(node.url) as proxy:
        env = make_env(node, db_url, tmp_path, hot_wallet_count=1, rpc_url=proxy.url)
        try:
            wallet = env.wallets[0]
            node.set_automine(False)
            env.enqueue("bad")
            env.enqueue("good")
            # the node refuses the first transaction for good (never reaches the node)
            proxy.script("eth_sendRawTransaction", Fault("error", message="intrinsic gas too low", code=-32000))
            env.relayer.dispatch()
            bad = env.intent("bad")
            assert bad.state == "failed" and "intrinsic gas" in (bad.error or "") and bad.nonce is None
            assert env.intent("good").nonce == 1
            env.drive(env.all_final)
            fillers = [i for i in env.intents() if i.purpose == FILLER_PURPOSE]
            assert [(f.nonce, f.state) for f in fillers] == [(0, "confirmed")]
            assert env.intent("good").state == "confirmed" and env.nonce(wallet) == 2
        finally:
            env.container.close()


def test_intent_above_the_block_gas_limit_fails_without_using_a_nonce(one_wallet: RelayEnv) -> None:
    env = one_wallet
    env.enqueue("huge", gas_limit=31_000_000)  # under Polygon's 2^25 tx cap, over anvil's 30M block
    env.enqueue("fine")
    env.drive(env.all_final)
    assert "above the block gas limit" in (env.intent("huge").error or "")
    assert env.intent("huge").nonce is None and env.intent("fine").nonce == 0


def test_manual_gap_in_the_counter_is_filled(one_wallet: RelayEnv) -> None:
    env = one_wallet
    wallet = env.wallets[0]
    env.enqueue("first")
    env.drive(env.all_final)
    with env.container.uow() as uow:  # a nonce reserved by nothing (e.g. a restored backup)
        uow.session.execute(update(HotWalletState).values(next_nonce=HotWalletState.next_nonce + 1))
        uow.commit()
    env.enqueue("second")
    env.drive(env.all_final)
    assert env.intent("second").nonce == 2 and env.intent("second").state == "confirmed"
    assert env.nonce(wallet) == 3


def test_cancel_races_a_self_transfer_on_the_same_nonce(one_wallet: RelayEnv) -> None:
    env = one_wallet
    env.node.set_automine(False)
    env.enqueue("c")
    env.relayer.dispatch()
    with env.container.uow() as uow:
        env.relayer.cancel(uow.session, "test", "c")
        uow.commit()
    env.relayer.track()
    original, cancel = env.attempts("c")
    assert cancel.kind == "cancel" and cancel.nonce == original.nonce
    assert cancel.max_priority_fee_per_gas * 100 >= original.max_priority_fee_per_gas * 110
    env.drive(env.all_final)
    intent = env.intent("c")
    assert intent.state == "failed" and intent.error == "cancelled" and intent.tx_hash == cancel.tx_hash
    assert not env.mined(original.tx_hash) and env.nonce(env.wallets[0]) == 1


def test_parallel_dispatchers_share_wallets_without_reusing_a_nonce(
    node: AnvilNode, db_url: str, tmp_path: Path
) -> None:
    env = make_env(node, db_url, tmp_path, hot_wallet_count=3, max_in_flight_per_wallet=2, redemption_reserved_lanes=0)
    try:
        node.set_automine(False)
        refs = [f"p{i}" for i in range(8)]
        for ref in refs:
            env.enqueue(ref)
        second = env.restart()  # another worker process
        first = env.relayer
        errors: list[BaseException] = []

        def run(relayer: object) -> None:
            try:
                relayer.dispatch()  # type: ignore[attr-defined]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(r,)) for r in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        intents = env.intents()
        submitted = [i for i in intents if i.state == "submitted"]
        assert len(submitted) == 6  # 3 wallets × LOYALTY_MAX_IN_FLIGHT_PER_WALLET 2
        waiting = [i for i in intents if i.state == "queued"]
        assert len(waiting) == 2 and all("waiting for a sending lane" in (i.waiting_reason or "") for i in waiting)
        env.drive(env.all_final)
        by_wallet: dict[str, list[int]] = defaultdict(list)
        for intent in env.intents():
            assert intent.state == "confirmed"
            by_wallet[str(intent.wallet)].append(int(intent.nonce or 0))
        assert len(by_wallet) == 3
        for wallet, nonces in by_wallet.items():
            assert sorted(nonces) == list(range(len(nonces)))  # unique and gapless
            assert env.nonce(wallet) == len(nonces)
    finally:
        env.container.close()
