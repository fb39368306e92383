"""A relayer on a real anvil node and a real database (SQLite file and PostgreSQL), driven step by step."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from web3 import Web3

from backend.adapters.chain.client import ChainClient, FailoverHTTPProvider
from backend.adapters.orm.relayer import HotWalletState, RelayAttempt, RelayIntent
from backend.bootstrap import Container, provision
from backend.services.relayer import Relayer, RelayerConfig, build_fee_oracle
from devtools.anvil import AnvilNode, anvil_available
from tests.conftest import make_settings

pytestmark = pytest.mark.skipif(not anvil_available(), reason="anvil binary missing")
GWEI = 10**9
# Tests whose database path is the same on both engines run on one of them to keep the suite fast; the ones about
# locking, nonces and enqueue (which differ per dialect) run on both.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


@dataclass
class RelayEnv:
    node: AnvilNode
    container: Container
    relayer: Relayer

    @property
    def w3(self) -> Web3:
        return self.container.chain.w3

    @property
    def wallets(self) -> list[str]:
        return [w.address for w in self.container.hot_wallets]

    def restart(self, **config: Any) -> Relayer:
        """A new relayer object (what a restarted process builds), optionally with other settings."""
        c = self.container
        base = RelayerConfig.from_settings(c.settings)
        self.relayer = Relayer(
            c.sessions,
            c.chain,
            c.hot_wallets,
            dataclasses.replace(base, **config),
            build_fee_oracle(c.chain, c.settings, c.min_tip_wei),
        )
        return self.relayer

    def enqueue(self, ref: str, *, to: str | None = None, data: bytes = b"", gas_limit: int = 21_000) -> None:
        with self.container.uow() as uow:
            self.relayer.enqueue(
                uow.session, purpose="test", ref=ref, to=to or self.wallets[0], data=data, gas_limit=gas_limit
            )
            uow.commit()

    def intent(self, ref: str, purpose: str = "test") -> RelayIntent:
        with self.container.uow() as uow:
            intent = self.relayer.intent(uow.session, purpose, ref)
            assert intent is not None
            uow.session.expunge_all()  # keep the loaded values past the unit of work's rollback
            return intent

    def intents(self) -> list[RelayIntent]:
        with self.container.uow() as uow:
            intents = list(uow.session.scalars(select(RelayIntent).order_by(RelayIntent.id)))
            uow.session.expunge_all()
            return intents

    def attempts(self, ref: str) -> list[RelayAttempt]:
        with self.container.uow() as uow:
            intent = self.relayer.intent(uow.session, "test", ref)
            assert intent is not None
            query = select(RelayAttempt).where(RelayAttempt.intent_id == intent.id).order_by(RelayAttempt.id)
            attempts = list(uow.session.scalars(query))
            uow.session.expunge_all()
            return attempts

    def next_nonce(self, wallet: str) -> int:
        with self.container.uow() as uow:
            row = uow.session.get(HotWalletState, (self.container.chain.chain_id, wallet))
            assert row is not None
            return int(row.next_nonce)

    def mined(self, tx_hash: str) -> bool:
        return self.node.rpc("eth_getTransactionReceipt", tx_hash) is not None

    def nonce(self, wallet: str, tag: str = "latest") -> int:
        return int(self.node.rpc("eth_getTransactionCount", wallet, tag), 16)

    def drive(self, done: Callable[[], bool], *, mine: int = 1, rounds: int = 40, tolerate: bool = False) -> None:
        """dispatch → track → mine until `done()`; `tolerate` swallows step errors like the runner does."""
        for _ in range(rounds):
            for step in (self.relayer.dispatch, self.relayer.track):
                try:
                    step()
                except Exception:
                    if not tolerate:
                        raise
            if done():
                return
            if mine:
                self.node.mine(mine)
        raise AssertionError(f"not done after {rounds} rounds: {self.intents()}")

    def all_final(self) -> bool:
        return all(i.state in ("confirmed", "failed") for i in self.intents())


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as n:
        yield n


def make_env(
    node: AnvilNode, db_url: str, tmp_path: Path, *, deploy: bool = False, rpc_url: str | None = None, **settings: Any
) -> RelayEnv:
    values: dict[str, Any] = {
        "rpc_urls": node.url,
        "confirmations": 1,
        "use_finalized_tag": False,
        "replace_after_blocks": 3,
    }
    values.update(settings)
    chain = None
    if rpc_url is not None:  # through a fault-injecting proxy: short timeouts so a hung call fails fast
        chain = ChainClient(w3=Web3(FailoverHTTPProvider([rpc_url], timeout_s=1.0)), kind="rpc", urls=[rpc_url])
    container = provision(make_settings(db_url, tmp_path, **values), chain=chain, with_contracts=deploy)
    return RelayEnv(node, container, container.relayer)


@pytest.fixture
def env(node: AnvilNode, db_url: str, tmp_path: Path) -> Iterator[RelayEnv]:
    e = make_env(node, db_url, tmp_path)
    yield e
    e.container.close()
