"""The embedded default (in-process chain; SQLite or PostgreSQL) mints credit through the same pipeline."""

from __future__ import annotations

import os
import secrets
import time
from collections import defaultdict

from eth_utils import to_checksum_address
from sqlalchemy import insert, select, text

from backend.adapters.chain.contracts import token_contract
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import CreditOutbox, MintBatch
from backend.bootstrap import Container
from backend.entrypoints.runner import EmbeddedRunner, background_tasks


def relay_state(container: Container) -> list[object]:
    with container.engine.connect() as conn:
        return list(conn.execute(text("SELECT state, error, waiting_reason, block_number, settled FROM relay_intents")))


def test_embedded_pipeline_mints_every_credit_once(container: Container) -> None:
    assert container.contracts is not None
    token = container.contracts.coalition.address
    wallets = [to_checksum_address(secrets.token_bytes(20).hex()) for _ in range(6)]
    rows = [
        {
            "chain_id": container.chain.chain_id,
            "token_address": token,
            "wallet": wallets[i % 6],
            "amount": 10**15 + i,
            "action_id": f"emb-{i}",
            "state": "pending",
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        for i in range(15)
    ]
    with container.engine.begin() as conn:
        conn.execute(insert(CreditOutbox.__table__), rows)
    names = {t.name for t in background_tasks(container)}
    assert {"mint-build", "relayer", "mint-settle"} <= names

    pipeline = container.pipeline
    # NOTE: bounded by time, not iterations: nothing is built before the batch window (2 s) has elapsed
    deadline = time.monotonic() + container.settings.batch_window_s + 60
    while time.monotonic() < deadline:
        pipeline.run_all()
        container.chain.tester.mine_blocks(1)  # the in-process chain only mines on transactions
        with container.uow() as uow:
            states = set(uow.session.scalars(select(CreditOutbox.state)))
        if states == {"minted"}:
            break
        time.sleep(0.05)
    assert states == {"minted"}, relay_state(container)

    expected: dict[str, int] = defaultdict(int)
    for row in rows:
        expected[row["wallet"]] += row["amount"]
    erc20 = token_contract(container.chain, token)
    assert {w: erc20.functions.balanceOf(w).call() for w in wallets} == expected
    with container.uow() as uow:
        assert set(uow.session.scalars(select(MintBatch.state))) == {"confirmed"}
    assert EmbeddedRunner  # the runner threads call the same pipeline methods (see background_tasks)


def test_the_embedded_runner_s_relayer_thread_leads_and_mints(container: Container) -> None:
    from backend.entrypoints.demo.chain_clock import chain_clock_task

    assert container.contracts is not None
    token = container.contracts.coalition.address
    wallets = [to_checksum_address(secrets.token_bytes(20).hex()) for _ in range(4)]
    now = utcnow()
    rows = [
        {
            "chain_id": container.chain.chain_id,
            "token_address": token,
            "wallet": wallets[i % 4],
            "amount": 10**15 + i,
            "action_id": f"runner-{i}",
            "state": "pending",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(8)
    ]
    with container.engine.begin() as conn:
        conn.execute(insert(CreditOutbox.__table__), rows)
    runner = EmbeddedRunner(container, [*background_tasks(container), chain_clock_task(container, 0.2)])
    runner.start()
    try:
        deadline = time.monotonic() + container.settings.batch_window_s + 90
        while time.monotonic() < deadline:
            with container.uow() as uow:
                states = set(uow.session.scalars(select(CreditOutbox.state)))
            if states == {"minted"}:
                break
            time.sleep(0.2)
        leader = container.relayer_loop.leadership.leader()
    finally:
        runner.stop()
    assert states == {"minted"}, relay_state(container)
    assert leader is not None and leader.pid == os.getpid()  # the runner's relayer thread held the chain's lock
    assert runner.errors == {}
    erc20 = token_contract(container.chain, token)
    assert sum(erc20.functions.balanceOf(w).call() for w in wallets) == sum(r["amount"] for r in rows)
