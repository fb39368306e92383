"""The relayer loop alone (no Celery, no runner) mints and confirms credit on anvil + PostgreSQL, block by block."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from backend.adapters.orm.minting import MintBatch
from backend.bootstrap import provision
from backend.services.relayer.loop import RelayerLoop
from devtools.anvil import AnvilNode
from devtools.rpc_proxy import Fault, RpcProxy
from tests.conftest import make_settings
from tests.support.celery_worker import wait_for
from tests.support.mint_env import MintEnv, new_wallets

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    with AnvilNode(block_time=1) as anvil:  # confirmations need blocks on top of the receipt's
        yield anvil


def running(loop: RelayerLoop) -> threading.Thread:
    thread = threading.Thread(target=loop.run, name="relayer-loop", daemon=True)
    thread.start()
    return thread


def test_the_loop_alone_mints_and_settles_each_batch_in_the_pass_that_saw_it_confirmed(env: MintEnv) -> None:
    env.credit(env.coalition, new_wallets(12), per_wallet=2)
    env.credit(env.brand_token, new_wallets(5), per_wallet=2)
    loop = env.main.relayer_loop
    thread = running(loop)
    try:
        drained = wait_for(
            lambda: env.count("pending") == 0 and env.count("batched") == 0 and env.unsettled_intents() == 0, 90
        )
    finally:
        loop.stop()
        thread.join(30)
    assert drained, (env.count("pending"), env.count("batched"), env.unsettled_intents(), list(loop.passes)[-5:])
    assert not thread.is_alive() and not loop.leadership.is_leader  # stopped and gave up the lock
    env.assert_chain_matches_ledger()
    assert loop.errors == 0
    batches = env.fetch(select(MintBatch))
    assert batches and {b.state for b in batches} == {"confirmed"}
    # track woke settle: a pass that saw a confirmation settled it at once, not a poll later
    assert any(p.tracked and p.settled for p in loop.passes)
    assert any(p.built and p.dispatched for p in loop.passes)  # a batch built in a pass was signed in the same pass


def test_a_woken_loop_signs_new_credit_before_its_next_poll(env: MintEnv) -> None:
    loop = RelayerLoop(
        env.main.pipeline, env.main.redemption_settlement, env.main.chain.head, env.main.relayer_loop.leadership, 3600
    )
    thread = running(loop)
    try:
        assert wait_for(lambda: loop.leadership.poll(), 30)  # leads (after its grace period), then idles an hour
        time.sleep(0.5)
        env.credit(env.coalition, new_wallets(3), per_wallet=1)
        time.sleep(0.1)  # batch window (1 ms) elapsed
        loop.wake()
        assert wait_for(lambda: env.count("pending") == 0, 20), "the woken loop did not build the new credit"
        assert wait_for(lambda: any(p.dispatched for p in loop.passes), 20)
    finally:
        loop.stop()
        thread.join(30)


def test_a_flaky_rpc_never_ends_the_loop(env: MintEnv) -> None:
    with RpcProxy(env.node.url, seed=7) as proxy:
        container = provision(make_settings(env.pg_url, env.tmp_path, **{**env.overrides, "rpc_urls": proxy.url}))
        # the next head reads, receipts and sends fail (JSON-RPC errors, closed connections) — then the node answers
        proxy.script("eth_blockNumber", *[Fault("error")] * 6, Fault("drop"), *[Fault("http_error")] * 3)
        proxy.script("eth_getTransactionReceipt", *[Fault("error")] * 4)
        env.credit(env.coalition, new_wallets(6), per_wallet=2)
        loop = container.relayer_loop
        thread = running(loop)
        try:
            drained = wait_for(
                lambda: env.count("pending") == 0 and env.count("batched") == 0 and env.unsettled_intents() == 0, 90
            )
            assert thread.is_alive()
        finally:
            loop.stop()
            thread.join(30)
            container.close()
    assert drained, list(loop.passes)[-5:]
    assert loop.errors > 0  # the faults reached the loop, which logged them and went on
    env.assert_chain_matches_ledger()
