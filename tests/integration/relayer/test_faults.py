"""RPC faults between the relayer and the node (a real fault-injecting HTTP proxy): every intent still mines
exactly once, and the wallets' nonces stay gapless."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.adapters.orm.minting import OperatorAlert
from devtools.anvil import AnvilNode
from devtools.rpc_proxy import Fault, RpcProxy
from tests.integration.relayer.conftest import POSTGRES_ONLY, SQLITE_ONLY, make_env

pytestmark = [pytest.mark.anvil]


@SQLITE_ONLY
def test_send_timeout_that_landed_is_not_a_failure(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    with RpcProxy(node.url) as proxy:
        env = make_env(node, db_url, tmp_path, rpc_url=proxy.url)
        try:
            env.enqueue("t")
            # the node receives the transaction, the answer never comes back
            proxy.script("eth_sendRawTransaction", Fault("timeout", forward=True, delay_s=1.5))
            env.relayer.dispatch()
            assert proxy.stats[("eth_sendRawTransaction", "timeout")] == 1
            attempt = env.attempts("t")[0]
            assert attempt.status == "sent" and env.mined(attempt.tx_hash)
            env.drive(env.all_final)
            assert env.intent("t").state == "confirmed" and len(env.attempts("t")) == 1
        finally:
            env.container.close()


@SQLITE_ONLY
def test_underpriced_answer_is_requoted_and_replaced(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    with RpcProxy(node.url) as proxy:
        env = make_env(node, db_url, tmp_path, rpc_url=proxy.url)
        try:
            env.enqueue("u")
            # what Polygon answers to a tip under 25 gwei; the node never got it
            message = "transaction underpriced: tip needed 25000000000, tip permitted 1000000000"
            proxy.script("eth_sendRawTransaction", Fault("error", message=message, code=-32000))
            env.relayer.dispatch()
            assert env.attempts("u")[0].status == "rejected"
            env.relayer.track()  # replaced at once, no waiting for blocks
            first, second = env.attempts("u")
            assert second.nonce == first.nonce and second.kind == "replacement"
            assert second.max_priority_fee_per_gas * 100 >= first.max_priority_fee_per_gas * 110
            env.drive(env.all_final)
            assert env.intent("u").tx_hash == second.tx_hash and not env.mined(first.tx_hash)
        finally:
            env.container.close()


@pytest.mark.postgres
@POSTGRES_ONLY  # the production database; the slowest test here
def test_flaky_rpc_still_one_mined_tx_per_intent_and_no_nonce_gap(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    with RpcProxy(node.url, seed=11, timeout_hold_s=1.2) as proxy:
        env = make_env(node, db_url, tmp_path, rpc_url=proxy.url, hot_wallet_count=2)
        try:
            refs = [f"f{i}" for i in range(4)]
            for ref in refs:
                env.enqueue(ref)
            proxy.script(
                "eth_sendRawTransaction",
                Fault("drop", forward=True),  # landed, connection dropped
                Fault("error"),  # refused by a sick endpoint, never reached the node
                Fault("http_error"),
            )
            proxy.set_rates(error=0.08, http_error=0.03, drop=0.05, delay=0.02)
            env.drive(env.all_final, tolerate=True, rounds=80)
            proxy.clear()
            injected = Counter(kind for (_method, kind), n in proxy.stats.items() for _ in range(n) if kind != "ok")
            assert sum(injected.values()) >= 10  # the run really was faulty
            per_wallet: Counter[str] = Counter()
            for ref in refs:
                intent = env.intent(ref)
                assert intent.state == "confirmed"
                mined = [a.tx_hash for a in env.attempts(ref) if env.mined(a.tx_hash)]
                assert mined == [intent.tx_hash]  # exactly one transaction per intent on chain
                per_wallet[str(intent.wallet)] += 1
            for wallet in env.wallets:  # nothing else was sent and no nonce was skipped
                assert env.nonce(wallet) == env.nonce(wallet, "pending") == per_wallet[wallet]
                if per_wallet[wallet]:
                    assert env.next_nonce(wallet) == per_wallet[wallet]
        finally:
            env.container.close()


@SQLITE_ONLY
def test_unrecognised_send_errors_cancel_the_intent_on_its_nonce_and_alert(
    node: AnvilNode, db_url: str, tmp_path: Path
) -> None:
    with RpcProxy(node.url) as proxy:
        env = make_env(node, db_url, tmp_path, rpc_url=proxy.url, send_error_attempts=5)
        try:
            env.enqueue("odd")
            strange = Fault("error", message="backend says: flux capacitor out of sync", code=-32000)
            proxy.script("eth_sendRawTransaction", *[strange] * 5)  # never reached the node
            for _ in range(8):
                env.relayer.dispatch()
                env.relayer.track()
                if any(a.kind == "cancel" for a in env.attempts("odd")):
                    break
            assert proxy.stats[("eth_sendRawTransaction", "error")] == 5
            original, cancel = env.attempts("odd")
            assert original.error is not None and original.error.startswith("unknown (5 in a row): ")
            assert cancel.kind == "cancel" and cancel.nonce == original.nonce
            env.drive(env.all_final)
            intent = env.intent("odd")
            assert intent.state == "failed" and "flux capacitor out of sync" in (intent.error or "")
            assert intent.tx_hash == cancel.tx_hash and not env.mined(original.tx_hash)
            assert env.nonce(env.wallets[0]) + env.nonce(env.wallets[1]) == 1  # the nonce is used, no gap
            with env.container.uow() as uow:
                alerts = list(uow.session.scalars(select(OperatorAlert.message)))
            assert len(alerts) == 1 and "flux capacitor" in alerts[0] and "odd" in alerts[0]
            env.enqueue("after")  # the wallet goes on
            env.drive(env.all_final)
            assert env.intent("after").state == "confirmed"
        finally:
            env.container.close()
