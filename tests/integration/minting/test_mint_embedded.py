"""The embedded default (in-process chain; SQLite or PostgreSQL) mints credit through the same pipeline."""

from __future__ import annotations

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
