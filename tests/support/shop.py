"""An onboarded brand in a test, driven through the SDK (`loyalty_client.Brand`) on the app's `TestClient`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fastapi.testclient import TestClient

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.transactions import send_and_wait
from backend.bootstrap import Container
from loyalty_client import Brand, LoyaltyClient
from tests.support.auth import key_headers

TOKEN = 10**18


@dataclass
class Shop:
    client: TestClient
    container: Container
    brand_id: int
    key: str

    @cached_property
    def brand(self) -> Brand:
        """The brand's SDK client; any non-2xx answer raises `loyalty_client.ApiError` with the problem."""
        return LoyaltyClient(http=self.client).brand(self.key, self.brand_id)

    @property
    def headers(self) -> dict[str, str]:
        return key_headers(self.key)

    @property
    def token(self) -> str:
        return str(self.brand.get()["token_address"])

    def act(self, **body: Any) -> dict[str, Any]:
        return self.brand.record_action(body)

    def promote(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.brand.create_promotion(spec)

    def offer(self, **body: Any) -> dict[str, Any]:
        return self.brand.create_offer(**{"title": "Free coffee", "cost": "10", "stock": 5, **body})

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
