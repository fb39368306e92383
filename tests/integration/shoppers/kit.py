"""Shopper test kit: a wallet that signs SIWE and EIP-712 messages, a brand that publishes offers and funds
wallets, and a driver of the relayer + redemption settle steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.transactions import send_and_wait
from backend.bootstrap import Container
from backend.services import siwe
from backend.services.minting.token_views import TokenViews
from tests.support.auth import key_headers

SHOPPER_OVERRIDES: dict[str, Any] = {"confirmations": 0, "batch_window_s": 0.001}
TOKEN = 10**18


def siwe_message(
    address: str,
    nonce: str,
    *,
    domain: str = "127.0.0.1:8000",
    chain_id: int,
    issued_at: datetime | None = None,
    expiration: datetime | None = None,
) -> str:
    return siwe.message_text(domain, address, chain_id, nonce, issued_at=issued_at, expiration=expiration)


@dataclass
class Wallet:
    account: LocalAccount = field(default_factory=Account.create)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def sign_text(self, message: str) -> str:
        return "0x" + bytes(self.account.sign_message(encode_defunct(text=message)).signature).hex()

    def sign_typed(self, data: dict[str, Any]) -> str:
        return "0x" + bytes(self.account.sign_message(encode_typed_data(full_message=data)).signature).hex()

    def nonce(self, client: TestClient) -> dict[str, Any]:
        response = client.post("/v1/auth/siwe/nonce")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def verify(self, client: TestClient, message: str, signature: str | None = None) -> Any:
        return client.post(
            "/v1/auth/siwe/verify", json={"message": message, "signature": signature or self.sign_text(message)}
        )

    def sign_in(self, client: TestClient) -> dict[str, str]:
        n = self.nonce(client)
        response = self.verify(client, siwe_message(self.address, n["nonce"], chain_id=n["chain_id"]))
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class Shop:
    client: TestClient
    container: Container
    brand_id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return key_headers(self.key)

    @property
    def token(self) -> str:
        response = self.client.get(f"/v1/brands/{self.brand_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["token_address"])

    def offer(self, **body: Any) -> dict[str, Any]:
        payload = {"title": "Free coffee", "cost": "10", "stock": 5, **body}
        response = self.client.post(f"/v1/brands/{self.brand_id}/offers", json=payload, headers=self.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def fund(self, wallet: str, tokens: int) -> None:
        mint(self.container, self.token, wallet, tokens * TOKEN)


def mint(container: Container, token: str, wallet: str, amount: int) -> None:
    """Mint directly from the deployer (token admin), outside the relayer's hot wallets and their nonces.

    NOTE: the minting pipeline's own path is exercised by tests/e2e/test_shopper_redemption.py on PostgreSQL.
    """
    contract = token_contract(container.chain, token)
    role = contract.functions.MINTER_ROLE().call()
    deployer = container.deployer
    if not contract.functions.hasRole(role, deployer.address).call():
        grant = contract.functions.grantRole(role, deployer.address)._encode_transaction_data()
        send_and_wait(container.chain, deployer, {"to": token, "data": grant})
    data = contract.functions.mint(wallet, amount)._encode_transaction_data()
    send_and_wait(container.chain, deployer, {"to": token, "data": data})


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
