"""`POST /v1/actions` fast path: valid brand-key requests skip FastAPI, everything else still gets its problem."""

from __future__ import annotations

from backend.services.earning.ledger import check_ledger
from tests.integration.earning.test_actions import RATE, W1, purchase
from tests.support.auth import create_api_key, key_headers
from tests.support.shop import Shop


def test_created_replayed_and_errors_raised_while_recording(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    headers = {"X-API-Key": shop.key}
    created = shop.client.post("/v1/actions", json=purchase("f1"), headers=headers)
    assert created.status_code == 201 and created.headers["content-type"] == "application/json"
    assert created.headers["idempotent-replayed"] == "false"
    replay = shop.client.post("/v1/actions", json=purchase("f1"), headers=shop.headers)  # Bearer lk_...
    assert (replay.status_code, replay.json(), replay.headers["idempotent-replayed"]) == (200, created.json(), "true")
    unknown = {"idempotency_key": "p1", "type": "promotion", "wallet": W1, "promotion_id": 999}
    problem = shop.client.post("/v1/actions", json=unknown, headers=headers)
    assert problem.status_code == 422 and problem.headers["content-type"].startswith("application/problem+json")
    assert (problem.json()["code"], problem.json()["instance"]) == ("unknown-promotion", "/v1/actions")


def test_requests_it_does_not_take_get_the_routes_answers(shop: Shop) -> None:
    invalid = shop.client.post("/v1/actions", json={**purchase("i1"), "wallet": "0x" + "0" * 40}, headers=shop.headers)
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid-address"
    assert any("wallet" in e["loc"] for e in invalid.json()["errors"])  # the body reached the route intact
    malformed = shop.client.post(
        "/v1/actions", content=b'{"idempotency_key": ', headers={**shop.headers, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 422 and malformed.headers["content-type"].startswith("application/problem+json")
    reader = create_api_key(shop.client, shop.brand_id, ["analytics:read"])
    denied = shop.client.post("/v1/actions", json=purchase("i2"), headers=key_headers(reader))
    assert denied.status_code == 403 and denied.json()["code"] == "missing-scope"
    anonymous = shop.client.post("/v1/actions", json=purchase("i3"), headers={"X-API-Key": "lk_1_nope"})
    assert anonymous.status_code == 401


def test_a_purchase_and_its_refund_in_one_bulk_request(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    batch = [
        purchase("b1", order="o1"),
        {"idempotency_key": "b2", "type": "refund", "wallet": W1, "order_id": "o1", "amount": "4.00"},
        purchase("b3", order="o3"),
    ]
    response = shop.client.post("/v1/actions:batch", json={"actions": batch}, headers=shop.headers)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "created"]
    assert results[1]["action"]["refunded"] == "4.00"
    (reversal,) = results[1]["action"]["reversals"]
    assert (reversal["reversed"], reversal["still_pending"]) == (str(40 * 10**18), str(60 * 10**18))
    with shop.container.uow() as uow:
        assert check_ledger(uow.session) == []
