"""Brand onboarding deploys a token through the factory; every brand route refuses another brand's credentials."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.adapters.chain.contracts import brand_id_bytes, factory_contract, token_contract
from backend.bootstrap import Container
from backend.entrypoints.api.routes.earning import promotions
from backend.entrypoints.api.routes.foundation import api_keys, brands
from tests.support.auth import admin_headers, create_brand, key_headers

PROMO = {"name": "p", "rules": [{"kind": "fixed", "key": "f", "action_types": ["purchase"], "amount": "1"}]}
BODIES = {
    ("POST", "/v1/brands/{brand_id}/promotions"): PROMO,
    ("PUT", "/v1/brands/{brand_id}/promotions/{promotion_id}"): PROMO,
    ("POST", "/v1/brands/{brand_id}/promotions/{promotion_id}:preview"): {
        "type": "custom",
        "custom_type": "x",
        "wallet": "0x" + "a" * 40,
    },
    ("POST", "/v1/brands/{brand_id}/consents"): {"grantee_brand_id": 1},
    ("POST", "/v1/brands/{brand_id}/api-keys"): {},
}


def test_onboarding_deploys_the_brand_token_with_hot_wallets_as_minters(
    client: TestClient, container: Container
) -> None:
    brand_id, _ = create_brand(client, "acme")
    brand = client.get(f"/v1/brands/{brand_id}", headers=admin_headers(client)).json()
    assert brand["slug"] == "acme" and brand["is_coalition"] is False
    assert container.contracts is not None
    factory = factory_contract(container.chain, container.contracts.factory.address)
    assert factory.functions.tokenOf(brand_id_bytes("acme")).call() == brand["token_address"]
    token = token_contract(container.chain, brand["token_address"])
    minter = token.functions.MINTER_ROLE().call()
    assert all(token.functions.hasRole(minter, w.address).call() for w in container.hot_wallets)
    assert token.functions.hasRole(bytes(32), container.deployer.address).call()

    again = client.post(
        "/v1/brands",
        json={"name": "Acme", "slug": "acme", "contact_email": "a@b.c"},
        headers=admin_headers(client),
    )
    assert again.status_code == 409 and again.json()["code"] == "slug-taken"
    coalition = client.post(
        "/v1/brands",
        json={"name": "Corner", "slug": "corner", "contact_email": "a@b.c", "use_coalition_token": True},
        headers=admin_headers(client),
    ).json()
    assert coalition["token_address"] == container.contracts.coalition.address
    assert [b["slug"] for b in client.get("/v1/brands", headers=admin_headers(client)).json()] == ["acme", "corner"]


def test_every_brand_route_refuses_another_brands_key(client: TestClient) -> None:
    a, key_a = create_brand(client, "alpha")
    b, key_b = create_brand(client, "beta")
    promo_b = client.post(f"/v1/brands/{b}/promotions", json=PROMO, headers=key_headers(key_b)).json()["id"]
    assert [x["id"] for x in client.get("/v1/brands", headers=key_headers(key_a)).json()] == [a]
    checked = 0
    for router in (brands.router, api_keys.router, promotions.router):
        for route in router.routes:
            path = getattr(route, "path", "")
            if "{brand_id}" not in path:
                continue
            for method in getattr(route, "methods", ()):
                url = (
                    path.replace("{brand_id}", str(b)).replace("{promotion_id}", str(promo_b)).replace("{key_id}", "1")
                )
                response = client.request(method, url, json=BODIES.get((method, path), {}), headers=key_headers(key_a))
                assert response.status_code in (403, 404), (method, path, response.status_code, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                checked += 1
    assert checked >= 12


def test_paying_in_another_token_needs_its_owners_consent(client: TestClient, container: Container) -> None:
    a, key_a = create_brand(client, "alpha")
    b, key_b = create_brand(client, "beta")
    cross = {**PROMO, "pay_in_brand_id": b}
    refused = client.post(f"/v1/brands/{a}/promotions", json=cross, headers=key_headers(key_a))
    assert refused.status_code == 403 and refused.json()["code"] == "consent-required"
    coalition = {**PROMO, "pay_in_coalition": True}
    assert client.post(f"/v1/brands/{a}/promotions", json=coalition, headers=key_headers(key_a)).status_code == 403
    # A cannot consent on B's behalf
    assert (
        client.post(f"/v1/brands/{b}/consents", json={"grantee_brand_id": a}, headers=key_headers(key_a)).status_code
        == 403
    )
    granted = client.post(f"/v1/brands/{b}/consents", json={"grantee_brand_id": a}, headers=key_headers(key_b))
    assert granted.status_code == 201, granted.text
    made = client.post(f"/v1/brands/{a}/promotions", json=cross, headers=key_headers(key_a))
    assert made.status_code == 201
    assert (
        made.json()["token_address"]
        == client.get(f"/v1/brands/{b}", headers=key_headers(key_b)).json()["token_address"]
    )
    assert (
        client.post("/v1/coalition/consents", json={"grantee_brand_id": a}, headers=key_headers(key_a)).status_code
        == 403
    )
    assert (
        client.post("/v1/coalition/consents", json={"grantee_brand_id": a}, headers=admin_headers(client)).status_code
        == 201
    )
    assert container.contracts is not None
    paid = client.post(f"/v1/brands/{a}/promotions", json=coalition, headers=key_headers(key_a)).json()
    assert paid["token_address"] == container.contracts.coalition.address
    for body in ({"name": "x"}, {"name": "x", "slug": "Bad Slug", "contact_email": "a@b.c"}):
        response = client.post("/v1/brands", json=body, headers=admin_headers(client))
        assert response.status_code == 422 and response.json()["code"] == "invalid-input"
