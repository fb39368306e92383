"""Shopper test kit: a wallet that signs SIWE and EIP-712 messages (the SDK's), a brand that publishes offers and
funds wallets (`tests.support.shop.Shop`), and a driver of the relayer + redemption settle steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.bootstrap import Container
from backend.domain.siwe_message import message_text
from backend.services.minting.token_views import TokenViews
from loyalty_client import LoyaltyClient
from loyalty_client import Wallet as SdkWallet
from tests.support.shop import TOKEN, Shop

__all__ = ["SHOPPER_OVERRIDES", "TOKEN", "Shop", "Wallet", "balance", "claim", "later", "relay_and_settle"]

SHOPPER_OVERRIDES: dict[str, Any] = {"confirmations": 0, "batch_window_s": 0.001}


def siwe_message(
    address: str,
    nonce: str,
    *,
    domain: str = "127.0.0.1:8000",
    chain_id: int,
    issued_at: datetime | None = None,
    expiration: datetime | None = None,
) -> str:
    return message_text(domain, address, chain_id, nonce, issued_at=issued_at, expiration=expiration)


@dataclass
class Wallet(SdkWallet):
    """The SDK's wallet (it signs) plus the sign-in steps one at a time, answers unchecked where tests need them."""

    def nonce(self, client: TestClient) -> dict[str, Any]:
        response = client.post("/v1/auth/siwe/nonce")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def verify(self, client: TestClient, message: str, signature: str | None = None) -> Any:
        return client.post(
            "/v1/auth/siwe/verify", json={"message": message, "signature": signature or self.sign_text(message)}
        )

    def sign_in(self, client: TestClient) -> dict[str, str]:
        shopper = LoyaltyClient(http=client).shopper(self)
        shopper.sign_in()
        return shopper.headers


def relay_and_settle(container: Container, rounds: int = 10) -> None:
    """Run the relayer (dispatch + track) and the redemption settle step until nothing is left to do."""
    pipeline = container.pipeline
    for _ in range(rounds):
        pipeline.dispatch()
        pipeline.track()
        done = container.redemption_settlement.settle()
        with container.engine.connect() as conn:
            open_ = conn.scalar(text("SELECT count(*) FROM redemptions WHERE status = 'pending'"))
        if not open_ and not done:
            return
    raise AssertionError("redemptions did not settle")


def balance(container: Container, token: str, wallet: str) -> int:
    return TokenViews(container.chain).balances(token, [wallet])[wallet]


def claim(client: TestClient, wallet: Wallet, headers: dict[str, str], offer_id: int) -> Any:
    prepared = client.post(f"/v1/offers/{offer_id}/redemptions:prepare", headers=headers)
    assert prepared.status_code == 201, prepared.text
    body = prepared.json()
    return client.post(
        "/v1/redemptions",
        json={"redemption_id": body["redemption_id"], "signature": wallet.sign_typed(body["typed_data"])},
        headers=headers,
    )


def later(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)
