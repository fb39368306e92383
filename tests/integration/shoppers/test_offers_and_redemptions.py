"""Offers and redemptions over HTTP: availability reasons, tiers, refusals, limits, failures that release stock."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.keys import Signer
from backend.adapters.chain.transactions import send_and_wait
from tests.integration.shoppers.kit import TOKEN, Shop, Wallet, balance, claim, later, relay_and_settle
from tests.support.auth import create_brand, key_headers


def reasons(client: TestClient, wallet: str) -> dict[int, list[str]]:
    response = client.get("/v1/offers/available", params={"wallet": wallet})
    assert response.status_code == 200, response.text
    return {o["offer"]["id"]: o["reasons"] for o in response.json()["offers"]}


def test_available_offers_say_why_a_wallet_cannot_claim(shop: Shop, client: TestClient) -> None:
    wallet = Wallet()
    shop.fund(wallet.address, 30)
    open_ = shop.offer(title="open", cost="25")
    pricey = shop.offer(title="pricey", cost="31")
    sold_out = shop.offer(title="sold out", stock=1)
    future = shop.offer(title="future", starts_at=later(60).isoformat())
    gold = shop.offer(title="gold only", min_tier="gold")
    once = shop.offer(title="once", cost="1", per_wallet_limit=1)
    just_over = shop.offer(title="just over", starts_at=later(-120).isoformat(), ends_at=later(-60).isoformat())
    long_over = shop.offer(
        title="long over", starts_at=later(-60 * 24 * 9).isoformat(), ends_at=later(-60 * 24 * 8).isoformat()
    )
    buyer = Wallet()
    shop.fund(buyer.address, 20)
    assert claim(client, buyer, buyer.sign_in(client), sold_out["id"]).status_code == 202
    headers = wallet.sign_in(client)
    assert claim(client, wallet, headers, once["id"]).status_code == 202

    seen = reasons(client, wallet.address)
    assert seen[open_["id"]] == []  # 30 held, 1 reserved by the pending "once" claim: 29 spendable
    assert seen[pricey["id"]] == ["insufficient_balance"]
    assert seen[sold_out["id"]] == ["out_of_stock"]
    assert seen[future["id"]] == ["not_started"]
    assert seen[gold["id"]] == ["tier_too_low"]
    assert seen[once["id"]] == ["limit_reached"]
    assert seen[just_over["id"]] == ["ended"] and long_over["id"] not in seen  # hidden a week after the end
    assert client.get("/v1/offers/available", params={"wallet": "0x123"}).status_code == 422


def test_tier_comes_from_lifetime_earned_with_the_brand(shop: Shop, client: TestClient) -> None:
    wallet = Wallet()
    put = client.put(
        f"/v1/brands/{shop.brand_id}/tiers",
        json={"silver": "10", "gold": "100", "platinum": "1000"},
        headers=shop.headers,
    )
    assert put.status_code == 200, put.text
    fixed = {"kind": "fixed", "key": "visit", "action_types": ["custom:visit"], "amount": "150"}
    promo = client.post(
        f"/v1/brands/{shop.brand_id}/promotions", json={"name": "visits", "rules": [fixed]}, headers=shop.headers
    )
    assert promo.status_code == 201, promo.text
    action = {"idempotency_key": "v1", "type": "custom", "custom_type": "visit", "wallet": wallet.address}
    acted = client.post("/v1/actions", json={**action, "customer_id": "cust-42"}, headers=shop.headers)
    assert acted.status_code in (200, 201), acted.text
    gold = shop.offer(title="gold only", cost="1", min_tier="gold")
    platinum = shop.offer(title="platinum only", cost="1", min_tier="platinum")
    shop.fund(wallet.address, 5)

    seen = reasons(client, wallet.address)
    assert seen[gold["id"]] == [] and seen[platinum["id"]] == ["tier_too_low"]
    profile = client.get("/v1/me/profile", headers=wallet.sign_in(client)).json()
    (brand_tier,) = profile["brand_tiers"]
    assert (brand_tier["tier"], brand_tier["next_tier"], brand_tier["remaining_tokens"]) == ("gold", "platinum", "850")
    assert profile["tier"]["tier"] == "silver"  # across brands, platform thresholds (100/1000/5000)
    assert profile["linked_customers"] == [
        {"brand_id": shop.brand_id, "brand_slug": "shoe-shop", "customer_id": "cust-42"}
    ]


def test_bad_signatures_replays_and_other_wallets_are_refused(shop: Shop, client: TestClient) -> None:
    wallet, thief = Wallet(), Wallet()
    shop.fund(wallet.address, 50)
    offer = shop.offer(cost="10")
    headers, thief_headers = wallet.sign_in(client), thief.sign_in(client)
    prepared = client.post(f"/v1/offers/{offer['id']}/redemptions:prepare", headers=headers).json()
    rid, data = prepared["redemption_id"], prepared["typed_data"]
    assert data["domain"]["verifyingContract"] == shop.token and data["message"]["amount"] == str(10 * TOKEN)

    def submit(signature: str, as_: dict[str, str] = headers, **extra: Any) -> Any:
        return client.post("/v1/redemptions", json={"redemption_id": rid, "signature": signature, **extra}, headers=as_)

    forged = submit(thief.sign_typed(data))
    assert forged.status_code == 422 and forged.json()["code"] == "redemption-bad-signature"
    tampered = submit(wallet.sign_typed({**data, "message": {**data["message"], "amount": "1"}}))
    assert tampered.json()["code"] == "redemption-bad-signature"
    wrong_chain = submit(wallet.sign_typed({**data, "domain": {**data["domain"], "chainId": 1}}), chain_id=1)
    assert wrong_chain.json()["code"] == "redemption-wrong-chain"
    assert submit(wallet.sign_typed(data), as_=thief_headers).status_code == 404  # not theirs, not even visible
    assert submit(wallet.sign_typed(data)).status_code == 202
    replay = submit(wallet.sign_typed(data))
    assert replay.status_code == 409 and replay.json()["code"] == "redemption-replayed"
    assert client.get(f"/v1/redemptions/{rid}", headers=thief_headers).json()["code"] == "not-your-wallet"
    assert client.get(f"/v1/redemptions/{rid}/qr.png", headers=headers).status_code == 409  # not confirmed yet
    assert client.get(f"/v1/offers/{offer['id']}").json()["stock_left"] == 4


def test_an_expired_prepared_redemption_is_refused(shop: Shop, client: TestClient) -> None:
    wallet = Wallet()
    shop.fund(wallet.address, 50)
    offer = shop.offer(cost="10")
    headers = wallet.sign_in(client)
    prepared = client.post(f"/v1/offers/{offer['id']}/redemptions:prepare", headers=headers).json()
    with shop.container.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE redemptions SET deadline = 1")
    signature = wallet.sign_typed(
        {**prepared["typed_data"], "message": {**prepared["typed_data"]["message"], "deadline": "1"}}
    )
    response = client.post(
        "/v1/redemptions", json={"redemption_id": prepared["redemption_id"], "signature": signature}, headers=headers
    )
    assert response.status_code == 422 and response.json()["code"] == "redemption-expired"


def test_pending_redemptions_reserve_balance_and_the_per_wallet_limit(shop: Shop, client: TestClient) -> None:
    wallet = Wallet()
    shop.fund(wallet.address, 25)
    offer = shop.offer(cost="10", per_wallet_limit=2, stock=10)
    headers = wallet.sign_in(client)
    assert claim(client, wallet, headers, offer["id"]).status_code == 202
    assert claim(client, wallet, headers, offer["id"]).status_code == 202
    # 25 held, 20 pending: a third claim is refused for the limit and for the balance, before any gas is spent.
    third = client.post(f"/v1/offers/{offer['id']}/redemptions:prepare", headers=headers)
    assert third.status_code == 409 and set(third.json()["reasons"]) == {"limit_reached", "insufficient_balance"}
    relay_and_settle(shop.container)
    assert [r["status"] for r in client.get("/v1/me/redemptions", headers=headers).json()] == ["confirmed"] * 2
    assert balance(shop.container, shop.token, wallet.address) == 5 * TOKEN


def test_a_relay_that_reverts_on_chain_fails_with_the_reason_and_releases_stock(shop: Shop, client: TestClient) -> None:
    wallet, friend = Wallet(), Wallet()
    shop.fund(wallet.address, 10)
    offer = shop.offer(cost="10", stock=1)
    headers = wallet.sign_in(client)
    submitted = claim(client, wallet, headers, offer["id"])
    assert submitted.status_code == 202 and client.get(f"/v1/offers/{offer['id']}").json()["stock_left"] == 0
    # The holder moves the tokens away before the relayer sends the redemption (the holder pays this gas).
    chain, deployer = shop.container.chain, shop.container.deployer
    send_and_wait(chain, deployer, {"to": wallet.address, "value": 10**18})
    transfer = token_contract(chain, shop.token).functions.transfer(friend.address, 10 * TOKEN)
    send_and_wait(chain, Signer(wallet.account), {"to": shop.token, "data": transfer._encode_transaction_data()})

    relay_and_settle(shop.container)
    failed = client.get(f"/v1/redemptions/{submitted.json()['id']}", headers=headers).json()
    assert failed["status"] == "failed" and failed["reason"] == "ERC20InsufficientBalance" and failed["code"] is None
    assert client.get(f"/v1/offers/{offer['id']}").json()["stock_left"] == 1
    assert reasons(client, wallet.address)[offer["id"]] == ["insufficient_balance"]


def test_brands_see_only_their_own_offers_redemptions(shop: Shop, client: TestClient) -> None:
    other_id, other_key = create_brand(client, "hat-shop")
    offer = shop.offer()
    assert client.get(f"/v1/brands/{shop.brand_id}/redemptions", headers=key_headers(other_key)).status_code == 403
    assert client.get(f"/v1/brands/{shop.brand_id}/offers", headers=key_headers(other_key)).status_code == 403
    stolen = client.post(
        f"/v1/brands/{shop.brand_id}/offers",
        json={"title": "x", "cost": "1", "stock": 1},
        headers=key_headers(other_key),
    )
    assert stolen.status_code == 403
    assert [o["id"] for o in client.get(f"/v1/brands/{shop.brand_id}/offers", headers=shop.headers).json()] == [
        offer["id"]
    ]
    bad = client.post(
        f"/v1/brands/{other_id}/offers", json={"title": "x", "cost": 1.5, "stock": 1}, headers=key_headers(other_key)
    )
    assert bad.status_code == 422  # floats are refused for token amounts
