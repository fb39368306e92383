"""Notifications fixtures: an app on a shared in-process chain, two onboarded brands, a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.adapters.chain.client import ChainClient
from backend.bootstrap import Container, provision
from backend.entrypoints.api.app import create_app
from backend.services.foundation.deployment import PlatformContracts
from backend.services.notifications.webhook_dispatcher import WebhookDispatcher
from tests.conftest import make_settings, use_template
from tests.support.auth import admin_headers, create_brand, key_headers
from tests.support.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def container(
    db_url: str,
    tmp_path: Path,
    shared_chain: tuple[ChainClient, PlatformContracts],
    sqlite_template: Path,
    settings_overrides: dict[str, Any],
) -> Iterator[Container]:
    use_template(db_url, sqlite_template)
    chain, contracts = shared_chain
    overrides: dict[str, Any] = {"webhook_backoff_base_s": 0.01, "webhook_backoff_max_s": 0.02}
    overrides["webhook_timeout_s"] = 2.0
    c = provision(
        make_settings(db_url, tmp_path, **{**overrides, **settings_overrides}), chain=chain, with_contracts=False
    )
    c.contracts = contracts
    yield c
    c.close()  # and the webhook dispatcher, if a test built one


@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(create_app(container))


@dataclass
class Brand:
    id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return key_headers(self.key)


@pytest.fixture
def brand_a(client: TestClient) -> Brand:
    return Brand(*create_brand(client, "notif-a"))


@pytest.fixture
def brand_b(client: TestClient) -> Brand:
    return Brand(*create_brand(client, "notif-b"))


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return admin_headers(client)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def dispatcher(container: Container) -> WebhookDispatcher:

    return container.webhook_dispatcher


WALLET = "0x" + "ab" * 20


def purchase(client: TestClient, brand: Brand, n: int, wallet: str = WALLET, **extra: Any) -> dict[str, Any]:
    body = {
        "idempotency_key": f"order-{n}",
        "type": "purchase",
        "wallet": wallet,
        "order_id": f"o-{n}",
        "amount": "10.00",
        "currency": "EUR",
        **extra,
    }
    response = client.post("/v1/actions", json=body, headers=brand.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def earn_everything(client: TestClient, brand: Brand, tokens: str = "1", budget: str | None = None) -> dict[str, Any]:
    """A promotion crediting `tokens` per purchase so actions credit something."""
    rule = {"key": "flat", "kind": "fixed", "action_types": ["purchase"], "amount": tokens}
    spec: dict[str, Any] = {"name": "Per purchase", "rules": [rule]}
    if budget is not None:
        spec["budget"] = budget
    response = client.post(f"/v1/brands/{brand.id}/promotions", json=spec, headers=brand.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())
