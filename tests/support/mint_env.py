"""Minting pipeline test helpers: an anvil + PostgreSQL environment, credit insertion, a step driver and the
chain-vs-ledger check (used by tests/integration/minting and the benchmark's smoke runs)."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import func, insert, select, text

from backend.adapters.chain.contracts import brand_id_bytes, create_token, token_contract
from backend.adapters.chain.transactions import send_and_wait
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.minting import CreditOutbox
from backend.bootstrap import Container, provision
from backend.services.minting.pipeline import MintingPipeline
from backend.services.minting.token_views import TokenViews
from devtools.anvil import AnvilNode
from tests.conftest import make_settings


class MintEnv:
    """An anvil chain + a PostgreSQL database; `container()` bootstraps a fresh process view (a 'restart')."""

    def __init__(self, node: AnvilNode, pg_url: str, tmp_path: Path) -> None:
        self.node = node
        self.pg_url = pg_url
        self.tmp_path = tmp_path
        self.overrides: dict[str, Any] = {"confirmations": 0, "use_finalized_tag": False, "batch_window_s": 0.001}
        self._containers: list[Container] = []
        self.main = self.container()
        assert self.main.contracts is not None
        self.coalition = self.main.contracts.coalition.address
        self.brand_token = create_token(
            self.main.chain,
            self.main.contracts.factory.address,
            self.main.deployer,
            brand_id_bytes("pipeline-test"),
            "Brand",
            "BRD",
            18,
            0,
            self.main.deployer.address,
            [w.address for w in self.main.hot_wallets],
        ).address

    def container(self, **overrides: Any) -> Container:
        c = provision(
            make_settings(self.pg_url, self.tmp_path, rpc_urls=self.node.url, **{**self.overrides, **overrides})
        )
        self._containers.append(c)
        return c

    def pipeline(self, container: Container | None = None) -> MintingPipeline:
        return (container or self.main).pipeline

    def close(self) -> None:
        for c in self._containers:
            c.close()

    # ------------------------------------------------------------------ credit
    def credit(self, token: str, wallets: list[str], per_wallet: int = 3, prefix: str = "a") -> None:
        chain_id = self.main.chain.chain_id
        rows = []
        now = utcnow()
        for n in range(per_wallet):
            for i, wallet in enumerate(wallets):
                rows.append(
                    {
                        "chain_id": chain_id,
                        "token_address": token,
                        "wallet": wallet,
                        "amount": 10**15 * (i + 1) + n,
                        "action_id": f"{prefix}-{secrets.token_hex(6)}",
                        "rule_id": "r1",
                        "state": "pending",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        with self.main.engine.begin() as conn:
            conn.execute(insert(CreditOutbox.__table__), rows)

    def fetch(self, statement: Any) -> list[Any]:
        """Rows or ORM objects of a select, usable after its session closed."""
        with self.main.uow() as uow:
            rows = list(uow.session.scalars(statement))
            uow.session.expunge_all()
        return rows

    def count(self, state: str) -> int:
        with self.main.uow() as uow:
            return int(uow.session.scalar(select(func.count()).where(CreditOutbox.state == state)) or 0)

    def unsettled_intents(self) -> int:
        with self.main.engine.connect() as conn:
            return int(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM relay_intents WHERE purpose IN ('batch_mint', 'mint_run') AND NOT settled"
                    )
                )
                or 0
            )

    def drain(self, pipeline: MintingPipeline | None = None, rounds: int = 40) -> None:
        """Run every step (mining a block between dispatch and track) until all credit is minted and settled."""
        pipeline = pipeline or self.pipeline()
        for _ in range(rounds):
            pipeline.build()
            pipeline.dispatch()
            self.node.mine(1)
            pipeline.track()
            pipeline.settle()
            if not self.count("pending") and not self.count("batched") and not self.unsettled_intents():
                return
        raise AssertionError(
            f"pipeline did not drain: pending={self.count('pending')} batched={self.count('batched')}"
            f" unsettled={self.unsettled_intents()}"
        )

    # ------------------------------------------------------------------ chain
    def send(self, token: str, fn: Callable[[Any], Any]) -> None:
        call = fn(token_contract(self.main.chain, token).functions)
        send_and_wait(self.main.chain, self.main.deployer, {"to": token, "data": call._encode_transaction_data()})

    def assert_chain_matches_ledger(self) -> None:
        """Every (token, wallet) holds exactly the sum of its minted credit; nothing is left pending or batched."""
        with self.main.uow() as uow:
            rows = uow.session.execute(
                select(CreditOutbox.token_address, CreditOutbox.wallet, CreditOutbox.amount, CreditOutbox.state)
            ).all()
        expected: dict[tuple[str, str], int] = defaultdict(int)
        for token, wallet, amount, state in rows:
            assert state == "minted", f"credit left in state {state}"
            expected[(token, wallet)] += int(amount)
        views = TokenViews(self.main.chain)
        by_token: dict[str, list[str]] = defaultdict(list)
        for token, wallet in expected:
            by_token[token].append(wallet)
        for token, wallets in by_token.items():
            balances = views.balances(token, wallets)
            assert {w: balances[w] for w in wallets} == {w: expected[(token, w)] for w in wallets}


def new_wallets(n: int) -> list[str]:
    return [to_checksum_address(secrets.token_bytes(20).hex()) for _ in range(n)]
