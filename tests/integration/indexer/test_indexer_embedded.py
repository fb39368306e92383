"""The embedded path (in-process chain, SQLite and PostgreSQL): new brands are followed without a restart, and
mints, transfers and redemptions land in balances and daily stats."""

from __future__ import annotations

import secrets

from backend.adapters.chain.contracts import token_contract
from backend.bootstrap import Container
from backend.entrypoints.runner import background_tasks
from indexer.fetch.rpc import transport_for
from indexer.reconcile import reconcile
from tests.integration.indexer.conftest import batch_mint, new_brand_token, random_wallet, send


def drain(container: Container) -> None:
    while container.streamer.step():
        pass


def test_tokens_created_while_running_are_followed(container: Container) -> None:
    assert container.contracts is not None
    shopper = random_wallet()
    batch_mint(container, container.contracts.coalition.address, {shopper: 100})
    drain(container)
    streamer = container.streamer
    assert len(streamer.tokens) == 1
    late = new_brand_token(container, "latecomer")  # created after the indexer started
    minter = container.hot_wallets[0].address
    batch_mint(container, late, {shopper: 7, minter: 1_000})
    token = token_contract(container.chain, late)
    send(container, token.functions.redeem(10, secrets.token_bytes(32), secrets.token_bytes(32)))
    send(container, token.functions.transfer(shopper, 3))
    drain(container)
    assert late.lower() in streamer.tokens
    balances = streamer.store.balances(container.chain.chain_id)
    assert balances[(late.lower(), shopper.lower())] == 10
    assert balances[(late.lower(), minter.lower())] == 987
    assert streamer.store.supplies(container.chain.chain_id)[late.lower()] == 997
    report = reconcile(transport_for(container.chain), streamer.store, container.chain.chain_id)
    assert report.ok, report.as_dict()


def test_the_embedded_runner_schedules_the_indexer(container: Container) -> None:
    names = [task.name for task in background_tasks(container)]
    assert "indexer" in names
