"""An action that earns nothing says why: `no_credit_reasons` in its answer (replayed as is) and in the
shopper's rewards view; an action that earns carries no reasons."""

from __future__ import annotations

from typing import Any

from tests.support.shop import Shop

W1 = "0x" + "a1" * 20
W2 = "0x" + "b2" * 20
RATE = {"kind": "rate", "key": "eur", "currency": "EUR", "per": "1.00", "tokens": "10"}


def _purchase(key: str, wallet: str = W1, currency: str = "EUR", amount: str = "10") -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "type": "purchase",
        "wallet": wallet,
        "order_id": key,
        "amount": amount,
        "currency": currency,
    }


def _codes(body: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(r["code"], r.get("promotion_id")) for r in body["no_credit_reasons"]]


def test_each_reason_for_earning_nothing_is_named(shop: Shop) -> None:
    none = shop.act(**_purchase("k0"))
    assert none["credits"] == [] and _codes(none) == [("no-active-promotion", None)]

    capped = shop.promote({"name": "eur", "rules": [RATE], "caps": {"per_wallet_total": "100"}})
    pid = capped["id"]
    assert _codes(shop.act(**_purchase("k1", currency="USD"))) == [("currency-mismatch", pid)]
    assert _codes(shop.act(**_purchase("k2", amount="0.01"))) == [("amount-too-small", pid)]
    earned = shop.act(**_purchase("k3", amount="10"))  # 100 tokens: the whole cap
    assert earned["credits"] and "no_credit_reasons" not in earned
    assert _codes(shop.act(**_purchase("k4"))) == [("wallet-cap-reached", pid)]
    refund_like = shop.act(idempotency_key="k5", type="custom", wallet=W1, custom_type="visit")
    assert _codes(refund_like) == [("no-matching-rule", pid)]

    fixed = {"key": "f", "kind": "fixed", "action_types": ["promotion"], "amount": "1"}
    budget = shop.promote({"name": "b", "budget": "1", "rules": [fixed]})["id"]
    assert shop.act(idempotency_key="p1", type="promotion", wallet=W2, promotion_id=budget)["credits"]
    spent = shop.act(idempotency_key="p2", type="promotion", wallet=W2, promotion_id=budget)
    assert _codes(spent) == [("budget-exhausted", budget)]

    replay = shop.client.post(
        "/v1/actions",
        json={"idempotency_key": "p2", "type": "promotion", "wallet": W2, "promotion_id": budget},
        headers=shop.headers,
    )
    assert replay.status_code == 200 and replay.json()["no_credit_reasons"] == spent["no_credit_reasons"]


def test_the_shoppers_rewards_view_says_why(shop: Shop) -> None:
    shop.promote({"name": "eur", "rules": [RATE]})
    shop.act(**_purchase("u1", currency="GBP"))
    shop.act(**_purchase("u2"))
    view = shop.client.get(f"/v1/wallets/{W1}/rewards").json()
    (unrewarded,) = view["unrewarded_actions"]
    assert unrewarded["type"] == "purchase" and unrewarded["reasons"][0]["code"] == "currency-mismatch"
    assert set(unrewarded) == {"action_id", "brand_id", "type", "created_at", "reasons"}  # no personal data


def test_the_reason_codes_are_documented(shop: Shop) -> None:
    operation = shop.client.get("/openapi.json").json()["paths"]["/v1/actions"]["post"]
    assert "budget-exhausted" in operation["description"]
    schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert "budget-exhausted" in schema["properties"]["no_credit_reasons"]["items"]["properties"]["code"]["enum"]
