"""Security fixtures: one platform with two brands (A and B), their resources and every kind of caller."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.bootstrap import Container, provision
from backend.entrypoints.api.app import create_app
from tests.conftest import make_settings
from tests.support.auth import admin_headers, create_brand, key_headers, login

WALLET = "0x" + "cd" * 20
SHOPPER = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # checksummed: a session for a real wallet spelling
PASSWORD = "security-matrix-pw"


@dataclass
class World:
    client: TestClient
    container: Container
    brand_a: int
    brand_b: int
    callers: dict[str, dict[str, str]]  # role name -> headers
    params: dict[str, str] = field(default_factory=dict)  # path parameter -> a resource of brand A


def _ok(response: Any, *codes: int) -> Any:
    assert response.status_code in (codes or (200, 201)), response.text
    return response.json()


def _operator(client: TestClient, admin: dict[str, str], email: str, role: str, brand: int | None) -> dict[str, str]:
    body = {"email": email, "password": PASSWORD, "role": role, "brand_id": brand}
    _ok(client.post("/v1/operators", json=body, headers=admin), 201)
    return login(client, email, PASSWORD)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("security")
    container = provision(make_settings(f"sqlite:///{tmp / 'security.db'}", tmp, rate_limit_per_ip=0))
    client = TestClient(create_app(container))
    admin = admin_headers(client)
    a, key_a = create_brand(client, "sec-a")
    b, key_b = create_brand(client, "sec-b")
    callers = {
        "anonymous": {},
        "admin": admin,
        "manager_a": _operator(client, admin, "manager-a@example.com", "brand_manager", a),
        "manager_b": _operator(client, admin, "manager-b@example.com", "brand_manager", b),
        "key_a": key_headers(key_a),
        "key_b": key_headers(key_b),
        "auditor": _operator(client, admin, "auditor@example.com", "auditor", None),
        "viewer": _operator(client, admin, "viewer@example.com", "viewer", None),
    }
    if importlib.util.find_spec("backend.entrypoints.api.shopper_auth") is not None:
        from backend.entrypoints.api.shopper_auth import issue_session

        token, _ = issue_session(container, SHOPPER, container.chain.chain_id)
        callers["shopper"] = {"Authorization": f"Bearer {token}"}
    world = World(client, container, a, b, callers)
    world.params.update(_resources_of_a(world, key_headers(key_a)))
    yield world
    container.webhook_dispatcher.close()
    container.close()


def _resources_of_a(world: World, headers: dict[str, str]) -> dict[str, str]:
    """Real resources of brand A, so a refusal to B is a refusal, not a 404 for something missing."""
    client, a = world.client, world.brand_a
    rule = {"key": "flat", "kind": "fixed", "action_types": ["purchase"], "amount": "1"}
    promotion = _ok(client.post(f"/v1/brands/{a}/promotions", json={"name": "p", "rules": [rule]}, headers=headers))
    action = {"idempotency_key": "k1", "type": "purchase", "wallet": WALLET, "order_id": "o1", "amount": "5"}
    act = _ok(client.post("/v1/actions", json={**action, "currency": "EUR"}, headers=headers))
    hook = _ok(client.post(f"/v1/brands/{a}/webhooks", json=SAMPLE_WEBHOOK, headers=headers), 201)
    world.container.webhook_dispatcher.fan_out()
    delivery = _ok(client.get(f"/v1/brands/{a}/webhooks/{hook['id']}/deliveries", headers=headers))[0]
    campaign = {"name": "c", "codes": 2, "ends_at": "2099-01-01T00:00:00Z", "reward_amount": "1"}
    qr = _ok(client.post("/v1/qr/campaigns", json=campaign, headers=headers), 201)
    keys = _ok(client.get(f"/v1/brands/{a}/api-keys", headers=world.callers["manager_a"]))
    params = {
        "brand_id": str(a),
        "promotion_id": str(promotion["id"]),
        "action_id": act["action_id"],
        "webhook_id": str(hook["id"]),
        "delivery_id": str(delivery["id"]),
        "campaign_id": str(qr["id"]),
        "code_id": "1",
        "key_id": str(keys[0]["id"]),
        "address": WALLET,
        "wallet": WALLET,
        "redemption_id": "0x" + "00" * 32,  # well-formed, nobody's: the shopper routes answer 404, not 422
    }
    offer = client.post(f"/v1/brands/{a}/offers", json={"title": "o", "cost": "1", "stock": 5}, headers=headers)
    if offer.status_code == 201:
        params["offer_id"] = str(offer.json()["id"])
    return params


SAMPLE_WEBHOOK = {"url": "https://hooks.example.com/loyalty", "event_types": ["action.credited"]}
