"""Brands send actions: idempotent, validated at the boundary, credited in the ledger and the outbox together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.adapters.orm.earning import Action, LedgerEntry
from backend.adapters.orm.minting import CreditOutbox
from tests.support.auth import admin_headers, create_brand, key_headers
from tests.support.shop import Shop

W1 = "0x" + "a1" * 20
W2 = "0x" + "b2" * 20
RATE = {"kind": "rate", "key": "eur", "currency": "EUR", "per": "1.00", "tokens": "10"}
UNIT = 10**18


def purchase(
    key: str, wallet: str = W1, order: str | None = None, amount: str = "10.00", **extra: Any
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "type": "purchase",
        "wallet": wallet,
        "order_id": order or key,
        "amount": amount,
        "currency": "EUR",
        **extra,
    }


def test_idempotency_same_body_replays_different_body_conflicts(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    first = shop.client.post(
        "/v1/actions", json=purchase("k1", wallet=W1.upper().replace("0X", "0x")), headers=shop.headers
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["wallet"] != W1 and body["wallet"].lower() == W1  # checksummed at the boundary
    assert [(c["tokens"], c["rule_id"]) for c in body["credits"]] == [("100", "p1v1:eur")]
    again = shop.client.post("/v1/actions", json={**purchase("k1"), "amount": "10.0"}, headers=shop.headers)
    assert again.status_code == 200 and again.json() == body
    assert again.headers["idempotent-replayed"] == "true"
    clash = shop.client.post("/v1/actions", json=purchase("k1", amount="11"), headers=shop.headers)
    assert clash.status_code == 409
    assert clash.headers["content-type"].startswith("application/problem+json")
    assert clash.json()["code"] == "idempotency-conflict"
    dup_order = shop.client.post("/v1/actions", json=purchase("k2", order="k1"), headers=shop.headers)
    assert dup_order.status_code == 409 and dup_order.json()["code"] == "duplicate-order"
    # the same key belongs to each brand separately
    _, other_key = create_brand(shop.client, "other")
    assert shop.client.post("/v1/actions", json=purchase("k1"), headers=key_headers(other_key)).status_code == 201

    with shop.container.uow() as uow:
        actions = uow.session.scalars(select(Action).where(Action.brand_id == shop.brand_id)).all()
        assert [a.idempotency_key for a in actions] == ["k1"]
        entries = uow.session.scalars(select(LedgerEntry).where(LedgerEntry.brand_id == shop.brand_id)).all()
        outbox = uow.session.scalars(select(CreditOutbox).where(CreditOutbox.brand_id == shop.brand_id)).all()
        assert [(e.kind, e.amount, e.rule_id, e.promotion_version) for e in entries] == [
            ("credit", 100 * UNIT, "p1v1:eur", 1)
        ]
        assert [(r.state, r.amount, r.wallet, r.action_id, r.ledger_entry_id) for r in outbox] == [
            ("pending", 100 * UNIT, body["wallet"], body["action_id"], entries[0].id)
        ]
        assert outbox[0].token_address == body["credits"][0]["token_address"]
        assert outbox[0].chain_id == shop.container.chain.chain_id


def test_bad_input_is_a_problem_never_a_500(shop: Shop) -> None:
    client = shop.client
    cases: list[tuple[Any, int, str]] = [
        ({**purchase("z"), "wallet": "0x" + "0" * 40}, 422, "invalid-address"),
        ({**purchase("z"), "wallet": "0x1234"}, 422, "invalid-address"),
        ({**purchase("z"), "amount": 10.5}, 422, "invalid-input"),
        ({**purchase("z"), "amount": "1e2"}, 422, "invalid-input"),
        ({**purchase("z"), "brand_id": 2}, 422, "invalid-input"),
        ({"idempotency_key": "r", "type": "referral", "wallet": W1, "referrer": W1}, 422, "self-referral"),
        ({"idempotency_key": "f", "type": "refund", "wallet": W1, "order_id": "nope"}, 404, "unknown-order"),
        ({"idempotency_key": "p", "type": "promotion", "wallet": W1, "promotion_id": 999}, 422, "unknown-promotion"),
        ([1, 2], 422, "invalid-input"),
        ("not json at all", 422, "invalid-input"),
    ]
    for body, status, code in cases:
        response = client.post("/v1/actions", json=body, headers=shop.headers)
        assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)
    raw = client.post("/v1/actions", content=b"{bad", headers={**shop.headers, "content-type": "application/json"})
    assert raw.status_code == 422
    assert client.post("/v1/actions", json=purchase("z")).status_code == 401
    no_brand = client.post("/v1/actions", json=purchase("z"), headers=admin_headers(client))
    assert no_brand.status_code == 403 and no_brand.json()["code"] == "brand-credentials-required"
    read_only = client.post(
        f"/v1/brands/{shop.brand_id}/api-keys", json={"scopes": ["analytics:read"]}, headers=admin_headers(client)
    )
    denied = client.post("/v1/actions", json=purchase("z"), headers=key_headers(read_only.json()["key"]))
    assert denied.status_code == 403 and denied.json()["code"] == "missing-scope"
    assert client.get(f"/v1/wallets/{'0x' + '0' * 40}/rewards").status_code == 422
    assert client.get(f"/v1/wallets/{W1}/rewards?cursor=abc").status_code == 422
    # numbers beyond the database's integer columns were a 500 (DataError) on PostgreSQL
    huge, b = 10**20, shop.brand_id
    promo = {"name": "x", "pay_in_brand_id": huge, "rules": [RATE]}
    for method, url, body in [
        ("GET", f"/v1/brands/{huge}", None),
        ("GET", f"/v1/brands/{b}/promotions/{huge}", None),
        ("GET", f"/v1/brands/{b}/promotions/1?version={huge}", None),
        ("POST", f"/v1/brands/{b}/consents", {"grantee_brand_id": huge}),
        ("POST", f"/v1/brands/{b}/api-keys/{huge}:revoke", None),
        ("POST", f"/v1/brands/{b}/promotions", promo),
        ("POST", "/v1/actions", {"idempotency_key": "p", "type": "promotion", "wallet": W1, "promotion_id": huge}),
        ("GET", f"/v1/wallets/{W1}/rewards?cursor={huge}", None),
    ]:
        response = client.request(method, url, json=body, headers=admin_headers(client))
        assert 400 <= response.status_code < 500, (method, url, response.text)


def test_batch_applies_in_order_with_per_item_results(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE, {"kind": "first_purchase", "key": "hello", "amount": "50"}]})
    shop.act(**purchase("before", wallet=W2))
    batch = [
        purchase("b1"),  # first purchase: bonus
        purchase("b2"),  # second: no bonus
        purchase("b1"),  # same key, same body, in the batch: replay of b1
        purchase("b1", amount="3"),  # same key, other body: conflict
        purchase("before", wallet=W2),  # replay of an earlier request
        {"idempotency_key": "r1", "type": "referral", "wallet": W1, "referrer": W2},
        {"idempotency_key": "r2", "type": "referral", "wallet": W1, "referrer": W2},  # referee already referred
    ]
    response = shop.client.post("/v1/actions:batch", json={"actions": batch}, headers=shop.headers)
    assert response.status_code == 200, response.text
    out = response.json()
    statuses = [r["status"] for r in out["results"]]
    assert statuses == ["created", "created", "replayed", "error", "replayed", "created", "error"]
    assert (out["created"], out["replayed"], out["error"]) == (3, 2, 2)
    results = out["results"]
    assert [c["tokens"] for c in results[0]["action"]["credits"]] == ["150"]
    assert [c["tokens"] for c in results[1]["action"]["credits"]] == ["100"]
    assert results[2]["action"] == results[0]["action"]
    assert results[3]["problem"]["code"] == "idempotency-conflict"
    assert results[6]["problem"]["code"] == "already-referred"
    too_many = {"actions": [purchase(f"x{i}") for i in range(10_001)]}
    big = shop.client.post("/v1/actions:batch", json=too_many, headers=shop.headers)
    assert big.status_code in (413, 422) and big.headers["content-type"].startswith("application/problem+json")
    assert shop.client.post("/v1/actions:batch", json={"actions": []}, headers=shop.headers).status_code == 422
    openapi = shop.client.get("/openapi.json").json()
    assert "10,000" in openapi["paths"]["/v1/actions:batch"]["post"]["description"]
