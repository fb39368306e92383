"""Reorgs deeper than the confirmation depth: final intents are re-opened, their nonces sent again, the wallet
keeps working (anvil's `anvil_reorg` drops the transactions of the blocks it replaces)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.transactions import send_and_wait
from devtools.anvil import AnvilNode
from tests.integration.relayer.conftest import POSTGRES_ONLY, SQLITE_ONLY, RelayEnv, make_env

HOLDER = to_checksum_address("0x00000000000000000000000000000000000b0b00")
# NOTE: no finalized tag (anvil's would hide the depth), and a look-back on every pass instead of every 3 s
DEEP: dict[str, Any] = {"confirmations": 2, "use_finalized_tag": False, "reorg_watch_every_s": 0}


@pytest.fixture
def deep(node: AnvilNode, db_url: str, tmp_path: Path) -> Iterator[RelayEnv]:
    e = make_env(node, db_url, tmp_path, **DEEP)
    yield e
    e.container.close()


def _nonces_without_gaps(env: RelayEnv) -> None:
    """Per hot wallet: the intents' nonces are 0..n-1, each used once, and the chain has used all of them."""
    by_wallet: dict[str, list[int]] = defaultdict(list)
    for intent in env.intents():
        assert intent.state == "confirmed", intent
        by_wallet[str(intent.wallet)].append(int(intent.nonce or 0))
    for wallet, nonces in by_wallet.items():
        assert sorted(nonces) == list(range(len(nonces))), (wallet, nonces)
        assert env.nonce(wallet) == len(nonces)


def test_confirmed_intents_reorged_away_are_sent_again_with_the_same_bytes(deep: RelayEnv) -> None:
    env = deep
    env.node.mine(10)
    env.node.set_automine(False)
    for ref in ("a", "b", "c"):
        env.enqueue(ref)
    env.drive(env.all_final)
    before = {i.ref: i for i in env.intents()}
    raw = {ref: [a.raw_tx for a in env.attempts(ref)] for ref in before}
    assert env.node.block_number() - min(int(i.block_number or 0) for i in before.values()) < 5

    env.node.reorg(5)  # deeper than the 2 confirmations: every block with our transactions is gone
    assert all(not env.mined(str(i.tx_hash)) for i in before.values())
    env.relayer.track()

    reopened = {i.ref: i for i in env.intents()}
    assert {i.state for i in reopened.values()} == {"submitted"}
    assert all(i.reorgs == 1 and i.reorged_at and i.block_number is None for i in reopened.values())
    for ref, intent in reopened.items():  # the stored bytes are back in the node's pool, nothing re-signed
        assert env.node.rpc("eth_getRawTransactionByHash", intent.tx_hash) == raw[ref][-1]
    env.drive(env.all_final)
    after = {i.ref: i for i in env.intents()}
    assert all(after[r].tx_hash == before[r].tx_hash and after[r].block_hash != before[r].block_hash for r in after)
    assert {r: [a.raw_tx for a in env.attempts(r)] for r in after} == raw
    assert all(env.mined(str(i.tx_hash)) for i in after.values())

    env.enqueue("after")  # the wallet is not wedged
    env.drive(env.all_final)
    _nonces_without_gaps(env)
    assert len(env.intents()) == 4  # no filler was needed: every nonce went to its own transaction


def test_a_reorg_within_the_confirmation_window_of_watched_blocks_changes_nothing(deep: RelayEnv) -> None:
    env = deep
    env.node.mine(10)
    env.enqueue("x")
    env.drive(env.all_final)
    env.node.mine(8)  # the block is 8 deep now: a reorg of 5 leaves it alone
    env.node.reorg(5)
    env.relayer.track()
    (intent,) = env.intents()
    assert intent.state == "confirmed" and intent.reorgs == 0


def test_only_blocks_inside_the_watch_window_are_looked_back_at(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    env = make_env(node, db_url, tmp_path, **DEEP, reorg_watch_blocks=3)
    try:
        env.node.mine(10)
        env.node.set_automine(False)
        env.enqueue("old")
        env.drive(env.all_final)
        env.node.mine(3)  # beyond the 3-block watch: nobody looks at it any more
        env.node.reorg(6)
        env.relayer.track()
        (intent,) = env.intents()
        assert intent.state == "confirmed" and intent.reorgs == 0 and not env.mined(str(intent.tx_hash))
    finally:
        env.container.close()


@pytest.mark.anvil
@POSTGRES_ONLY
def test_a_reverted_intent_reorged_away_is_cancelled_not_sent_again(
    node: AnvilNode, db_url: str, tmp_path: Path
) -> None:
    env = make_env(node, db_url, tmp_path, deploy=True, **DEEP)
    try:
        c = env.container
        assert c.contracts is not None
        token = token_contract(c.chain, c.contracts.coalition.address)
        env.node.mine(6)
        mint = token.functions.mint(HOLDER, 5)._encode_transaction_data()
        # NOTE: paused after signing (eth_estimateGas passed), mined first in the same block: the mint reverts in a
        # block; the pause is in that block too, so the reorg below removes it along with the revert
        env.node.set_automine(False)
        env.enqueue("mint-paused", to=token.address, data=bytes.fromhex(mint[2:]), gas_limit=150_000)
        env.relayer.dispatch()
        tip = {"maxPriorityFeePerGas": hex(500 * 10**9), "maxFeePerGas": hex(1000 * 10**9)}  # mines first
        pause = token.functions.pause()._encode_transaction_data()
        env.node.rpc("eth_sendTransaction", {"from": c.deployer.address, "to": token.address, "data": pause, **tip})
        env.node.set_automine(True)
        env.node.mine(1)
        env.drive(env.all_final)
        reverted = env.intent("mint-paused")
        assert reverted.state == "failed" and reverted.error == "EnforcedPause()"
        unpause = {"to": token.address, "data": token.functions.unpause()._encode_transaction_data()}
        send_and_wait(c.chain, c.deployer, unpause)

        env.node.reorg(env.node.block_number() - int(reverted.block_number or 0) + 1)  # deeper than 2
        assert not token.functions.paused().call()  # the pause went with it: now the same bytes would mint
        env.drive(env.all_final)

        final = env.intent("mint-paused")
        assert final.reorgs == 1 and final.state == "failed" and final.error == "cancelled"
        assert token.functions.balanceOf(HOLDER).call() == 0  # the mint its consumer gave up on never happened
        assert env.nonce(str(final.wallet)) == int(final.nonce or 0) + 1
    finally:
        env.container.close()


@SQLITE_ONLY
def test_the_look_back_runs_at_most_once_per_interval(node: AnvilNode, db_url: str, tmp_path: Path) -> None:
    env = make_env(node, db_url, tmp_path, **{**DEEP, "reorg_watch_every_s": 3600})
    try:
        env.node.mine(10)
        env.node.set_automine(False)
        env.enqueue("x")
        env.drive(env.all_final)  # the first pass looked back (nothing to see); the next one is an hour away
        env.node.reorg(5)
        env.relayer.track()
        assert env.intent("x").state == "confirmed"  # not looked at yet
        env.restart(reorg_watch_every_s=0).track()
        assert env.intent("x").state == "submitted" and env.intent("x").reorgs == 1
    finally:
        env.container.close()
