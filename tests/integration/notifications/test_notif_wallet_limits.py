"""Rate limits per wallet (Redis): QR claims, SIWE sign-ins and a shopper session's redemption claims.

A wallet's own steps share one counter (`LOYALTY_RATE_LIMIT_PER_WALLET`) whatever IP they come from; steps that
do not prove the wallet (forged codes, another key's signatures) never use it up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from eth_account import Account
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from backend.adapters.orm.shoppers import SiweNonce
from backend.bootstrap import Container
from backend.entrypoints.api.app import create_app
from tests.integration.notifications.conftest import Brand
from tests.integration.shoppers.kit import Shop, Wallet, siwe_message

pytestmark = pytest.mark.redis
PER_WALLET = 4


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the counters live in Redis, whichever database the API uses."""
    return f"sqlite:///{tmp_path / 'loyalty.db'}"


@pytest.fixture
def settings_overrides(redis_url: str, redis_prefix: str) -> dict[str, Any]:
    return {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "rate_limit_window_s": 3600,  # one window for the whole test
        "rate_limit_per_ip": 1000,
        "rate_limit_per_wallet": PER_WALLET,
        "confirmations": 0,
        "batch_window_s": 0.001,
    }


def assert_limited(response: Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate-limited"
    assert 0 < int(response.headers["retry-after"]) <= 3600


def qr_codes(client: TestClient, brand: Brand, count: int) -> list[str]:
    body = {
        "name": "flyers",
        "codes": count,
        "ends_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "reward_amount": str(10**18),
    }
    campaign = client.post("/v1/qr/campaigns", json=body, headers=brand.headers)
    assert campaign.status_code == 201, campaign.text
    page = client.get(f"/v1/qr/campaigns/{campaign.json()['id']}/codes", headers=brand.headers)
    return [item["code"] for item in page.json()["items"]]


def test_qr_claims_are_limited_per_wallet_across_processes(
    client: TestClient, container: Container, brand_a: Brand, redis_url: str, redis_prefix: str
) -> None:
    other_process = TestClient(create_app(container))
    wallet, other = Wallet(), Wallet()
    codes = qr_codes(client, brand_a, PER_WALLET + 2)
    forged = codes[0][:-4] + ("AAAA" if not codes[0].endswith("AAAA") else "BBBB")
    for _ in range(3):  # made-up codes do not count against the wallet
        assert client.post("/v1/qr/claims", json={"code": forged, "wallet": wallet.address}).status_code == 422
    for n, code in enumerate(codes[:PER_WALLET]):
        http = (client, other_process)[n % 2]
        assert http.post("/v1/qr/claims", json={"code": code, "wallet": wallet.address}).status_code == 201
    refused = other_process.post("/v1/qr/claims", json={"code": codes[PER_WALLET], "wallet": wallet.address.lower()})
    assert_limited(refused)
    # the refused claim did not burn the code: another wallet still gets it
    won = client.post("/v1/qr/claims", json={"code": codes[PER_WALLET], "wallet": other.address})
    assert won.status_code == 201, won.text
    counter = redis.Redis.from_url(redis_url).keys(f"{redis_prefix}rl:wallet:{wallet.address.lower()}:*")
    assert len(counter) == 1


def test_siwe_sign_ins_are_limited_per_wallet_only_for_its_own_fresh_signatures(
    client: TestClient, container: Container
) -> None:
    wallet, stranger = Wallet(), Wallet(Account.create())
    for _ in range(PER_WALLET + 1):  # someone else's signatures over the wallet's name never use its budget
        n = wallet.nonce(client)
        message = siwe_message(wallet.address, n["nonce"], chain_id=n["chain_id"])
        bad = wallet.verify(client, message, stranger.sign_text(message))
        assert bad.status_code == 401 and bad.json()["code"] == "siwe-bad-signature"
    n = wallet.nonce(client)
    message = siwe_message(wallet.address, n["nonce"], chain_id=n["chain_id"])
    signature = wallet.sign_text(message)
    assert wallet.verify(client, message, signature).status_code == 200  # sign-in 1
    for _ in range(PER_WALLET):  # replaying a used message does not count either
        replayed = wallet.verify(client, message, signature)
        assert replayed.status_code == 401 and replayed.json()["code"] == "siwe-nonce-used"
    for _ in range(PER_WALLET - 1):
        wallet.sign_in(client)
    n = wallet.nonce(client)
    refused = wallet.verify(client, siwe_message(wallet.address, n["nonce"], chain_id=n["chain_id"]))
    assert_limited(refused)
    with container.uow() as uow:  # refused before the nonce burned
        assert uow.session.scalar(select(SiweNonce.used_at).where(SiweNonce.nonce == n["nonce"])) is None
    stranger.sign_in(client)  # other wallets are unaffected


def test_redemption_claims_are_limited_per_shopper_wallet(
    client: TestClient, container: Container, brand_a: Brand
) -> None:
    shop = Shop(client, container, brand_a.id, brand_a.key)
    wallet, other = Wallet(), Wallet()
    shop.fund(wallet.address, 50)
    offer = shop.offer(cost="10", stock=5)
    headers = wallet.sign_in(client)  # 1
    prepared = client.post(f"/v1/offers/{offer['id']}/redemptions:prepare", headers=headers)  # 2
    assert prepared.status_code == 201, prepared.text
    body = prepared.json()
    signed = {"redemption_id": body["redemption_id"], "signature": wallet.sign_typed(body["typed_data"])}
    assert client.post("/v1/redemptions", json=signed, headers=headers).status_code == 202  # 3
    again = client.post(f"/v1/offers/{offer['id']}/redemptions:prepare", headers=headers)  # 4
    assert again.status_code == 201, again.text
    body = again.json()
    signed = {"redemption_id": body["redemption_id"], "signature": wallet.sign_typed(body["typed_data"])}
    assert_limited(client.post("/v1/redemptions", json=signed, headers=headers))  # 5
    other_headers = other.sign_in(client)
    assert client.get("/v1/me/redemptions", headers=other_headers).status_code == 200
