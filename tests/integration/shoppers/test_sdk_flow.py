"""The Python SDK against the real app: a brand records and imports actions, QR refusals carry their problem,
a shopper signs in with SIWE and redeems with an EIP-712 signature, gaslessly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from backend.services.earning import action_imports
from loyalty_client import ApiError, LoyaltyClient, Wallet
from tests.integration.shoppers.kit import TOKEN, Shop, balance, relay_and_settle

WALLET = "0x" + "5a" * 20


RATE = {"kind": "rate", "key": "spend", "currency": "USD", "tokens": "1"}
UNKNOWN_REFUND = {"idempotency_key": "r", "type": "refund", "wallet": WALLET, "order_id": "no-such-order"}


def _purchase(key: str, amount: str = "10.00") -> dict[str, str]:
    return {
        "idempotency_key": key,
        "type": "purchase",
        "wallet": WALLET,
        "order_id": key,
        "amount": amount,
        "currency": "USD",
    }


def test_a_brand_records_one_action_a_batch_and_an_import(shop: Shop) -> None:
    brand = shop.brand
    brand.create_promotion({"name": "points", "rules": [RATE]})
    assert brand.record_action(_purchase("one"))["credits"]
    batch = brand.record_actions([_purchase("two"), UNKNOWN_REFUND])
    assert [r["status"] for r in batch["results"]] == ["created", "error"]
    accepted = brand.import_actions([_purchase(f"imp-{i}") for i in range(3)])
    action_imports.process_for(shop.container.sessions, float("inf"))
    assert brand.wait_for_import(accepted["id"], timeout_s=5)["state"] == "done"
    assert [r["status"] for r in brand.iter_import_results(accepted["id"])] == ["created"] * 3
    with pytest.raises(ApiError) as conflict:  # same key, other body
        brand.record_action(_purchase("one", "99.00"))
    assert (conflict.value.status, conflict.value.code) == (409, "idempotency-conflict")


def test_a_claimed_qr_code_is_refused_with_its_problem(shop: Shop, client: TestClient) -> None:
    campaign = shop.brand.create_qr_campaign("flyers", 2, datetime.now(UTC) + timedelta(hours=1), 10**18)
    (code, _) = shop.brand.all_qr_codes(campaign["id"], 2)
    api = LoyaltyClient(http=client)
    api.claim_qr(code, WALLET)
    with pytest.raises(ApiError) as again:
        api.claim_qr(code, WALLET)
    assert (again.value.status, again.value.code) == (409, "qr-already-claimed")


def test_a_shopper_signs_in_and_redeems_gaslessly(shop: Shop, client: TestClient) -> None:
    shopper = LoyaltyClient(http=client).shopper(Wallet())
    shop.fund(shopper.address, 30)
    offer = shop.offer(cost="10")
    assert shopper.sign_in()["wallet"] == shopper.address
    prepared = shopper.redeem(offer["id"])
    relay_and_settle(shop.container)
    assert shopper.wait_for_redemption(prepared["redemption_id"], timeout_s=5)["status"] == "confirmed"
    assert balance(shop.container, shop.token, shopper.address) == 20 * TOKEN
    assert shop.container.chain.w3.eth.get_balance(shopper.address) == 0
