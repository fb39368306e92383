"""One definition of a tier: the promotion's tier multiplier pays by the tier the shopper's profile shows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.shoppers.kit import TOKEN, Shop, Wallet
from tests.support.auth import create_brand

RATE = {"kind": "rate", "key": "eur", "currency": "EUR", "per": "1.00", "tokens": "10"}


def buy(shop: Shop, wallet: Wallet, order: str, amount: str) -> Decimal:
    """Tokens a purchase earned."""
    body = {"idempotency_key": order, "type": "purchase", "wallet": wallet.address, "amount": amount, "currency": "EUR"}
    body["order_id"] = order
    response = shop.client.post("/v1/actions", json=body, headers=shop.headers)
    assert response.status_code in (200, 201), response.text
    return sum((Decimal(c["amount"]) for c in response.json()["credits"]), Decimal(0)) / TOKEN


def promote(shop: Shop, tier_rule: dict[str, Any] | None = None) -> None:
    rules: list[dict[str, Any]] = [RATE]
    if tier_rule is not None:
        rules.append({"kind": "tier_multiplier", "key": "tiers", **tier_rule})
    body = {"name": "tiers", "rules": rules}
    response = shop.client.post(f"/v1/brands/{shop.brand_id}/promotions", json=body, headers=shop.headers)
    assert response.status_code == 201, response.text


def test_a_gold_shoppers_purchase_gets_the_gold_multiplier_and_the_profile_says_gold(
    client: TestClient, shop: Shop
) -> None:
    thresholds = {"silver": "20", "gold": "50", "platinum": "1000"}
    assert client.put(f"/v1/brands/{shop.brand_id}/tiers", json=thresholds, headers=shop.headers).status_code == 200
    promote(shop, {"multipliers": {"silver": "1.5", "gold": "2"}})
    wallet = Wallet()
    headers = wallet.sign_in(client)

    assert buy(shop, wallet, "o-1", "1.00") == 10  # member: × 1
    assert client.get("/v1/me/profile", headers=headers).json()["brand_tiers"][0]["tier"] == "member"
    assert buy(shop, wallet, "o-2", "1.00") == 10  # 10 earned: still member
    assert client.get("/v1/me/profile", headers=headers).json()["brand_tiers"][0]["tier"] == "silver"
    assert buy(shop, wallet, "o-3", "2.00") == 30  # 20 earned: silver, × 1.5
    profile = client.get("/v1/me/profile", headers=headers).json()
    assert profile["brand_tiers"][0]["tier"] == "gold"  # 50 earned: the profile says gold ...
    assert buy(shop, wallet, "o-4", "1.00") == 20  # ... and the purchase gets gold's × 2


def test_the_multiplier_across_brands_follows_the_profiles_overall_tier(client: TestClient, shop: Shop) -> None:
    other = Shop(client, shop.container, *create_brand(client, "hat-shop"))
    promote(other)  # plain earning with another brand
    promote(shop, {"basis": "platform", "multipliers": {"gold": "3"}})
    wallet, newcomer = Wallet(), Wallet()
    headers = wallet.sign_in(client)

    assert buy(other, wallet, "x-1", "100.00") == 1000  # gold across brands (platform thresholds: gold = 1000)
    profile = client.get("/v1/me/profile", headers=headers).json()
    assert profile["tier"]["tier"] == "gold"
    assert [t["tier"] for t in profile["brand_tiers"]] == ["gold"]  # only the other brand so far
    assert buy(shop, newcomer, "o-1", "1.00") == 10  # a member: × 1
    assert buy(shop, wallet, "o-2", "1.00") == 30  # this brand pays the cross-brand gold multiplier
