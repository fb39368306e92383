"""A gasless redemption that confirms becomes a `redemption.confirmed` webhook, signed, without the counter code."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.bootstrap import Container
from backend.services.notifications.webhook_dispatcher import WebhookDispatcher
from tests.integration.notifications.conftest import Brand
from tests.integration.shoppers.kit import SHOPPER_OVERRIDES, Shop, Wallet, claim, relay_and_settle
from tests.support.webhook_receiver import Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(SHOPPER_OVERRIDES)


def test_confirmed_redemption_is_delivered(
    client: TestClient,
    container: Container,
    brand_a: Brand,
    receiver: Receiver,
    dispatcher: WebhookDispatcher,
    db_url: str,
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("one database is enough for this end-to-end path")
    body = {"url": receiver.url, "event_types": ["redemption.confirmed"]}
    hook = client.post(f"/v1/brands/{brand_a.id}/webhooks", json=body, headers=brand_a.headers).json()
    receiver.secrets = [hook["secret"]]
    shop = Shop(client, container, brand_a.id, brand_a.key)
    wallet = Wallet()
    shop.fund(wallet.address, 50)
    offer = shop.offer(cost="20", stock=3)
    headers = wallet.sign_in(client)
    pending = claim(client, wallet, headers, offer["id"]).json()
    relay_and_settle(container)
    done = client.get(f"/v1/redemptions/{pending['id']}", headers=headers).json()
    assert done["status"] == "confirmed"

    dispatcher.run_once(wait=True)
    (event,) = receiver.events("redemption.confirmed")
    assert event["data"]["redemption_id"] == pending["id"] and event["data"]["wallet"] == wallet.address
    assert event["data"]["amount"] == str(20 * 10**18) and event["data"]["tx_hash"] == done["tx_hash"]
    assert done["code"] not in receiver.verified()[0].raw.decode()  # the counter code is the shopper's alone
