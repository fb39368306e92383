"""Platform events are written with the facts they describe: credits, confirmed batches, budgets at 90 %."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.adapters.orm.minting import MintBatch
from backend.adapters.orm.notifications import PlatformEvent
from backend.bootstrap import Container
from tests.integration.notifications.conftest import WALLET, Brand, earn_everything, purchase


def events(container: Container, type_: str | None = None) -> list[Any]:
    with container.uow() as uow:
        query = select(PlatformEvent.id, PlatformEvent.brand_id, PlatformEvent.type, PlatformEvent.payload)
        if type_ is not None:
            query = query.where(PlatformEvent.type == type_)
        return list(uow.session.execute(query.order_by(PlatformEvent.id)).all())


def mint_everything(container: Container) -> list[str]:
    """Drive the real minting pipeline on the in-process chain until every batch is confirmed."""
    pipeline = container.pipeline
    states: list[str] = []
    for _ in range(100):
        pipeline.run_all()
        with container.uow() as uow:
            states = list(uow.session.scalars(select(MintBatch.state)))
        if states and all(s == "confirmed" for s in states):
            return states
        time.sleep(0.05)
    raise AssertionError(f"batches not confirmed: {states}")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"confirmations": 0, "batch_window_s": 0.01, "shared_run_wait_s": 0}


def test_credits_and_confirmed_batches_become_events_per_brand(
    client: TestClient, container: Container, brand_a: Brand, brand_b: Brand
) -> None:
    earn_everything(client, brand_a)
    earn_everything(client, brand_b, tokens="2")
    first = purchase(client, brand_a, 1, customer_id="cust-ann")
    purchase(client, brand_a, 2)
    purchase(client, brand_b, 1)
    purchase(client, brand_b, 2)
    refund = {"idempotency_key": "refund-2", "type": "refund", "wallet": WALLET, "order_id": "o-2"}
    assert client.post("/v1/actions", json=refund, headers=brand_b.headers).status_code == 201  # credits nothing

    credited = events(container, "action.credited")
    assert (credited[0].brand_id, credited[0].payload["action_id"]) == (brand_a.id, first["action_id"])
    assert [e.brand_id for e in credited] == [brand_a.id, brand_a.id, brand_b.id, brand_b.id]
    assert all("cust-ann" not in str(e.payload) for e in credited)

    mint_everything(container)
    confirmed = {e.brand_id: e.payload for e in events(container, "batch.confirmed")}
    assert set(confirmed) == {brand_a.id, brand_b.id}
    assert confirmed[brand_a.id]["credits"] == 2 and confirmed[brand_a.id]["amount"] == str(2 * 10**18)
    assert confirmed[brand_b.id]["amount"] == str(2 * 10**18) and confirmed[brand_b.id]["tx_hash"]  # one refunded


def test_budget_low_fires_once_when_spend_crosses_ninety_percent(
    client: TestClient, container: Container, brand_a: Brand
) -> None:
    promotion = earn_everything(client, brand_a, tokens="1", budget="10")
    for n in range(1, 12):
        purchase(client, brand_a, n)
        crossed = events(container, "promotion.budget_low")
        assert len(crossed) == (1 if n >= 9 else 0), n
    (event,) = events(container, "promotion.budget_low")
    assert event.payload["promotion_id"] == promotion["id"]
    assert event.payload["spent"] == str(9 * 10**18) and event.payload["budget"] == str(10 * 10**18)
