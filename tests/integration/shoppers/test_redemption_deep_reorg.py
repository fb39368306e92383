"""A redemption whose burn a reorg deeper than the confirmation depth removed after its code was issued: the same
signed burn goes out again and the redemption stays exactly as the shopper saw it (anvil, both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.adapters.orm.minting import OperatorAlert
from backend.adapters.orm.relayer import RelayIntent
from backend.adapters.orm.shoppers import Redemption
from backend.bootstrap import Container, provision
from devtools.anvil import AnvilNode, anvil_available
from tests.conftest import make_settings
from tests.integration.shoppers.kit import SHOPPER_OVERRIDES, TOKEN, Shop, Wallet, balance, claim

pytestmark = [pytest.mark.anvil]


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    if not anvil_available():
        pytest.fail("anvil is required (node_modules/.bin/anvil)")
    with AnvilNode() as anvil:
        yield anvil


@pytest.fixture
def container(db_url: str, tmp_path: Path, node: AnvilNode) -> Iterator[Container]:
    """The shop on anvil: confirmations at depth 2 with no finalized tag, a look-back on every tracker pass."""
    deep = {"confirmations": 2, "use_finalized_tag": False, "reorg_watch_every_s": 0}
    c = provision(make_settings(db_url, tmp_path, rpc_urls=node.url, **{**SHOPPER_OVERRIDES, **deep}))
    yield c
    c.close()


def _settle(container: Container, node: AnvilNode) -> None:
    for _ in range(20):
        container.pipeline.dispatch()
        node.mine(1)
        container.pipeline.track()
        container.redemption_settlement.settle()
        with container.uow() as uow:
            s = uow.session
            states = set(s.scalars(select(RelayIntent.state).where(RelayIntent.purpose == "redeem")))
            unsettled = s.scalars(select(RelayIntent.id).where(RelayIntent.settled.is_(False))).first()
            pending = s.scalars(select(Redemption.id).where(Redemption.status == "pending")).first()
        if states <= {"confirmed", "failed"} and unsettled is None and pending is None:
            return
    raise AssertionError("redemptions did not settle")


def _redemption(container: Container, redemption_id: str) -> Redemption:
    with container.uow() as uow:
        r = uow.session.get(Redemption, redemption_id)
        assert r is not None
        uow.session.expunge_all()
        return r


def test_a_confirmed_redemption_reorged_away_is_burned_again_once(
    shop: Shop, client: TestClient, container: Container, node: AnvilNode
) -> None:
    wallet = Wallet()
    shop.fund(wallet.address, 50)
    offer = shop.offer(cost="20", stock=3)
    node.mine(8)  # the funding stays on the chain through the reorg below
    headers = wallet.sign_in(client)
    node.set_automine(False)
    pending = claim(client, wallet, headers, offer["id"]).json()
    _settle(container, node)
    first = _redemption(container, pending["id"])
    assert first.status == "confirmed" and first.code and balance(container, shop.token, wallet.address) == 30 * TOKEN

    node.reorg(4)  # deeper than the 2 confirmations: the burn is gone, the shopper holds a code already
    assert balance(container, shop.token, wallet.address) == 50 * TOKEN
    _settle(container, node)

    again = _redemption(container, pending["id"])
    assert (again.status, again.code) == ("confirmed", first.code)
    assert again.tx_hash == first.tx_hash and again.block_number != first.block_number  # same signed bytes
    assert balance(container, shop.token, wallet.address) == 30 * TOKEN  # burned exactly once
    with container.uow() as uow:
        (intent,) = uow.session.scalars(select(RelayIntent).where(RelayIntent.purpose == "redeem"))
        assert intent.reorgs == 1 and intent.state == "confirmed"
        assert not list(uow.session.scalars(select(OperatorAlert)))  # the outcome stands: nothing to decide
    assert client.get(f"/v1/offers/{offer['id']}").json()["stock_left"] == 2

    second = claim(client, wallet, headers, offer["id"]).json()  # the hot wallet was not wedged
    _settle(container, node)
    assert _redemption(container, second["id"]).status == "confirmed"
    assert balance(container, shop.token, wallet.address) == 10 * TOKEN
