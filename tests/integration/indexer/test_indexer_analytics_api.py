"""The mirror over HTTP: public cross-brand wallet balances, brand analytics and leaderboard, cross-brand
analytics — and tenant scoping (brand A never sees brand B's numbers or anyone's wallet list)."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from backend.adapters.chain.contracts import token_contract
from backend.bootstrap import Container
from backend.entrypoints.api.app import create_app
from tests.integration.indexer.conftest import batch_mint, random_wallet, send
from tests.support.auth import admin_headers, create_brand, key_headers


@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(create_app(container))


def token_of(client: TestClient, brand_id: int) -> str:
    response = client.get(f"/v1/brands/{brand_id}", headers=admin_headers(client))
    assert response.status_code == 200, response.text
    return str(response.json()["token_address"])


def test_balances_analytics_and_scoping(client: TestClient, container: Container) -> None:
    brand_a, key_a = create_brand(client, slug="alpha")
    brand_b, key_b = create_brand(client, slug="bravo")
    token_a, token_b = token_of(client, brand_a), token_of(client, brand_b)
    shopper, other = random_wallet(), random_wallet()
    minter = container.hot_wallets[0].address
    batch_mint(container, token_a, {shopper: 500, other: 50, minter: 1_000})
    batch_mint(container, token_b, {shopper: 30, minter: 1_000})
    send(
        container,
        token_contract(container.chain, token_b).functions.redeem(
            100, secrets.token_bytes(32), secrets.token_bytes(32)
        ),
    )
    while container.streamer.step():
        pass

    # public: every token the shopper holds, with brand names, checksummed addresses
    body = client.get(f"/v1/wallets/{shopper}/balances").json()
    holdings = {b["token"]: b for b in body["balances"]}
    assert set(holdings) == {token_a, token_b}
    assert holdings[token_a]["balance"] == "500" and holdings[token_a]["brand"] == "Alpha"
    assert client.get("/v1/wallets/0x0000000000000000000000000000000000000000/balances").status_code == 422
    assert client.get("/v1/wallets/not-an-address/balances").status_code == 422

    analytics = client.get(f"/v1/brands/{brand_a}/analytics", headers=key_headers(key_a)).json()
    assert (analytics["issued"], analytics["holders"], analytics["burned"]) == ("1550", 3, "0")
    assert analytics["series"][0]["active_wallets"] == 3
    redeemed = client.get(f"/v1/brands/{brand_b}/analytics", headers=key_headers(key_b)).json()
    assert (redeemed["redeemed"], redeemed["circulating"], redeemed["redemption_rate"]) == ("100", "930", "0.0971")

    leaders = client.get(f"/v1/brands/{brand_a}/leaderboard?limit=2", headers=key_headers(key_a)).json()["leaders"]
    assert [leader["earned"] for leader in leaders] == ["1000", "500"]

    # brand A may not read brand B's analytics or leaderboard
    for path in (f"/v1/brands/{brand_b}/analytics", f"/v1/brands/{brand_b}/leaderboard"):
        response = client.get(path, headers=key_headers(key_a))
        assert response.status_code == 403 and response.json()["code"] == "cross-tenant"
    assert client.get(f"/v1/brands/{brand_a}/analytics").status_code == 401

    # cross-brand: a brand gets counts for pairs with its own token, never wallet lists; admins get everything
    as_brand = client.get("/v1/analytics/cross-brand", headers=key_headers(key_a)).json()
    assert as_brand["scope"] == "brand" and "multi_brand_wallets" not in as_brand
    assert as_brand["multi_brand_holders"] == 2  # the shopper and the minter hold both tokens
    assert all(token_a in (o["token_a"], o["token_b"]) for o in as_brand["overlap"])
    assert all(f["earned_token"] == token_a for f in as_brand["redemption_flows"])
    as_admin = client.get("/v1/analytics/cross-brand", headers=admin_headers(client)).json()
    assert as_admin["scope"] == "platform"
    assert {w["wallet"] for w in as_admin["multi_brand_wallets"]} == {
        client.get(f"/v1/wallets/{shopper}/balances").json()["wallet"],
        client.get(f"/v1/wallets/{minter}/balances").json()["wallet"],
    }
    flows = {(f["earned_token"], f["redeemed_token"]): f["redeemed"] for f in as_admin["redemption_flows"]}
    assert flows[(token_a, token_b)] == "100"  # the minter earned at A and redeemed B
