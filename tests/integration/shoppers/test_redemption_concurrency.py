"""Concurrent claims: stock is never oversold and a wallet's limit holds, with every submit racing the others."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.adapters.orm.relayer import RelayIntent
from backend.adapters.orm.shoppers import Redemption
from backend.bootstrap import Container
from backend.errors import LoyaltyError
from backend.services.shoppers import redemptions as redemption_service
from tests.integration.shoppers.kit import Shop, Wallet

pytestmark = [pytest.mark.slow]


def prepared(container: Container, wallet: Wallet, offer_id: int) -> tuple[str, str]:
    with container.uow() as uow:
        r, data = redemption_service.prepare(container.redemptions, uow.session, wallet.address, offer_id)
        uow.commit()
        return r.id, wallet.sign_typed(data)


def race(container: Container, claims: list[tuple[Wallet, str, str]]) -> Counter[str]:
    start = threading.Barrier(len(claims))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def submit(wallet: Wallet, rid: str, signature: str) -> None:
        start.wait()
        try:
            redemption_service.submit(container.redemptions, wallet.address, rid, signature)
            outcome = "pending"
        except LoyaltyError as exc:
            outcome = exc.code
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=submit, args=claim) for claim in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def counts(container: Container, offer_id: int) -> tuple[int, int]:
    """(pending redemptions of the offer, redeem relay intents)."""
    with container.uow() as uow:
        s = uow.session
        pending = s.scalar(select(func.count()).where(Redemption.offer_id == offer_id, Redemption.status == "pending"))
        intents = s.scalar(select(func.count()).where(RelayIntent.purpose == "redeem"))
    return int(pending or 0), int(intents or 0)


def test_twenty_concurrent_claims_of_five_items_reserve_exactly_five(shop: Shop, client: TestClient) -> None:
    offer = shop.offer(cost="1", stock=5)
    wallets = [Wallet() for _ in range(20)]
    for w in wallets:
        shop.fund(w.address, 1)
    claims = [(w, *prepared(shop.container, w, offer["id"])) for w in wallets]

    outcomes = race(shop.container, claims)

    assert outcomes == Counter({"pending": 5, "out-of-stock": 15})
    assert counts(shop.container, offer["id"]) == (5, 5)  # one relay intent per reserved item, none for the refused
    assert client.get(f"/v1/offers/{offer['id']}").json()["stock_left"] == 0


def test_one_wallet_racing_itself_gets_its_limit_once(shop: Shop) -> None:
    offer = shop.offer(cost="1", stock=10, per_wallet_limit=1)
    wallet = Wallet()
    shop.fund(wallet.address, 10)
    claims = [(wallet, *prepared(shop.container, wallet, offer["id"])) for _ in range(6)]

    outcomes = race(shop.container, claims)

    assert outcomes == Counter({"pending": 1, "offer-not-claimable": 5})
    assert counts(shop.container, offer["id"]) == (1, 1)
