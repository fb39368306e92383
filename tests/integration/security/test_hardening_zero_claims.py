"""A QR claim that would earn nothing is refused (409 `claim-earns-nothing` with a reason) and burns no code;
a campaign on a promotion that cannot pay a claim is refused when it is created (422)."""

from __future__ import annotations

from typing import Any

from tests.integration.security.conftest import World

WALLET = "0x" + "ab" * 20
FIXED = {"key": "qr", "kind": "fixed", "action_types": ["promotion"], "amount": "1"}
CAMPAIGN = {"name": "z", "codes": 2, "ends_at": "2099-01-01T00:00:00Z"}


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _campaign(world: World, promotion_id: int) -> tuple[int, list[str]]:
    headers = world.callers["key_a"]
    campaign = _ok(
        world.client.post("/v1/qr/campaigns", json={**CAMPAIGN, "promotion_id": promotion_id}, headers=headers), 201
    )
    codes = _ok(world.client.get(f"/v1/qr/campaigns/{campaign['id']}/codes", headers=headers), 200)
    return campaign["id"], [c["code"] for c in codes["items"]]


def test_a_claim_beyond_the_budget_is_refused_and_the_code_stays_usable(world: World) -> None:
    client, a, headers = world.client, world.brand_a, world.callers["key_a"]
    body = {"name": "qr budget", "budget": "1", "rules": [FIXED]}
    promotion = _ok(client.post(f"/v1/brands/{a}/promotions", json=body, headers=headers), 201)
    campaign_id, (first, second) = _campaign(world, promotion["id"])
    paid = _ok(client.post("/v1/qr/claims", json={"code": first, "wallet": WALLET}), 201)
    assert paid["amount"] == str(10**18)

    refused = client.post("/v1/qr/claims", json={"code": second, "wallet": WALLET})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "claim-earns-nothing"
    assert refused.json()["reason"] == "budget-exhausted"
    campaign = _ok(client.get(f"/v1/qr/campaigns/{campaign_id}", headers=headers), 200)
    assert campaign["claims"] == 1  # nothing committed
    assert len(_ok(client.get(f"/v1/qr/campaigns/{campaign_id}/claims", headers=headers), 200)) == 1

    more = {**body, "budget": "2"}
    _ok(client.put(f"/v1/brands/{a}/promotions/{promotion['id']}", json=more, headers=headers), 200)
    again = _ok(client.post("/v1/qr/claims", json={"code": second, "wallet": WALLET}), 201)
    assert again["amount"] == str(10**18)  # the same code, now paid


def test_a_campaign_on_a_promotion_that_pays_no_claims_is_refused(world: World) -> None:
    client, a, headers = world.client, world.brand_a, world.callers["key_a"]
    rate = {"key": "r", "kind": "rate", "currency": "EUR", "tokens": "1"}
    purchases_only = _ok(
        client.post(f"/v1/brands/{a}/promotions", json={"name": "rate", "rules": [rate]}, headers=headers), 201
    )
    refused = client.post("/v1/qr/campaigns", json={**CAMPAIGN, "promotion_id": purchases_only["id"]}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "qr-promotion-pays-nothing"

    spent = _ok(
        client.post(f"/v1/brands/{a}/promotions", json={"name": "s", "budget": "1", "rules": [FIXED]}, headers=headers),
        201,
    )
    _, (code, _) = _campaign(world, spent["id"])
    _ok(client.post("/v1/qr/claims", json={"code": code, "wallet": WALLET}), 201)  # spends the whole budget
    again = client.post("/v1/qr/campaigns", json={**CAMPAIGN, "promotion_id": spent["id"]}, headers=headers)
    assert again.status_code == 422 and again.json()["code"] == "qr-promotion-pays-nothing", again.text
