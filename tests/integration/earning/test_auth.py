"""Operators log in for a JWT; brand API keys authenticate, are scoped, revocable and rotatable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from backend.adapters.db import session_scope
from backend.adapters.orm.earning import ApiKey, Brand
from backend.bootstrap import Container, provision
from backend.entrypoints.api.app import create_app
from backend.entrypoints.api.auth import jwt_signing_key
from tests.conftest import make_settings
from tests.support.auth import admin_headers, create_api_key, key_headers, login


@pytest.fixture
def offchain(fresh_db: str, tmp_path: Path) -> Iterator[Container]:
    """A container without contracts: auth needs no chain."""
    c = provision(make_settings(fresh_db, tmp_path, admin_password="correct horse battery"), with_contracts=False)
    yield c
    c.close()


def _brand(container: Container, slug: str) -> int:
    with session_scope(container.sessions) as session:
        brand = Brand(
            slug=slug,
            name=slug,
            contact_email="x@y.z",
            chain_id=1,
            token_address="0x" + "1" * 40,
            token_symbol="X",
            token_decimals=18,
            is_coalition=False,
        )
        session.add(brand)
        session.flush()
        return brand.id


def test_admin_exists_at_startup_and_gets_a_jwt(offchain: Container, fresh_db: str, tmp_path: Path) -> None:
    again = provision(make_settings(fresh_db, tmp_path, admin_password="correct horse battery"), with_contracts=False)
    again.close()  # second start: the admin is not duplicated
    client = TestClient(create_app(offchain))
    response = client.post(
        "/v1/auth/token", data={"username": "admin@example.com", "password": "correct horse battery"}
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    claims = jwt.decode(token, jwt_signing_key(offchain), algorithms=["HS256"])
    assert claims["role"] == "admin" and claims["brand_id"] is None
    assert claims["exp"] - claims["iat"] == offchain.settings.jwt_ttl_s
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "admin" and "brands:admin" in me["scopes"]


def test_wrong_password_and_bad_tokens_are_401_problems(offchain: Container) -> None:
    client = TestClient(create_app(offchain))
    bad = client.post("/v1/auth/token", data={"username": "admin@example.com", "password": "nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["code"] == "invalid-credentials"
    for headers in ({}, {"Authorization": "Bearer garbage"}, {"X-API-Key": "lk_1_nope"}, {"Authorization": "Basic x"}):
        response = client.get("/v1/auth/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "invalid-credentials"
    forged = jwt.encode({"sub": "x", "role": "admin", "exp": 9999999999}, b"another-secret" * 3, algorithm="HS256")
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = jwt.encode({"sub": "x", "role": "admin", "exp": 1}, jwt_signing_key(offchain), algorithm="HS256")
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_api_keys_authenticate_and_can_be_revoked_and_rotated(offchain: Container) -> None:
    client = TestClient(create_app(offchain))
    brand_id = _brand(offchain, "acme")
    key = create_api_key(client, brand_id, ["actions:write"])
    assert key.startswith("lk_")
    me = client.get("/v1/auth/me", headers={"X-API-Key": key}).json()
    assert me == {"subject": me["subject"], "role": "brand_api", "brand_id": brand_id, "scopes": ["actions:write"]}
    assert client.get("/v1/auth/me", headers=key_headers(key)).status_code == 200
    assert client.get("/v1/auth/me", headers=key_headers(key + "x")).status_code == 401
    key_id = int(key.split("_")[1])
    with session_scope(offchain.sessions) as session:
        row = session.get(ApiKey, key_id)
        assert row is not None and row.last_used_at is not None
        assert key.split("_", 2)[2] not in row.secret_hash  # only a hash is stored

    rotated = client.post(f"/v1/brands/{brand_id}/api-keys/{key_id}:rotate", headers=admin_headers(client))
    assert rotated.status_code == 201
    new_key = rotated.json()["key"]
    assert rotated.json()["scopes"] == ["actions:write"]
    assert client.get("/v1/auth/me", headers=key_headers(key)).status_code == 401
    assert client.get("/v1/auth/me", headers=key_headers(new_key)).status_code == 200
    listed = client.get(f"/v1/brands/{brand_id}/api-keys", headers=admin_headers(client)).json()
    assert [k["revoked_at"] is not None for k in listed] == [True, False]
    assert all("key" not in k for k in listed)

    new_id = int(new_key.split("_")[1])
    revoked = client.post(f"/v1/brands/{brand_id}/api-keys/{new_id}:revoke", headers=admin_headers(client))
    assert revoked.status_code == 200
    assert client.get("/v1/auth/me", headers=key_headers(new_key)).status_code == 401


def test_keys_and_operators_are_tenant_scoped(offchain: Container) -> None:
    client = TestClient(create_app(offchain))
    a, b = _brand(offchain, "alpha"), _brand(offchain, "beta")
    key_a = create_api_key(client, a)
    # an API key cannot manage keys, of its own brand or another
    assert client.get(f"/v1/brands/{a}/api-keys", headers=key_headers(key_a)).status_code == 403
    assert client.get(f"/v1/brands/{b}/api-keys", headers=key_headers(key_a)).json()["code"] == "cross-tenant"
    created = client.post(
        "/v1/operators",
        json={"email": "m@alpha.example", "password": "a long password", "role": "brand_manager", "brand_id": a},
        headers=admin_headers(client),
    )
    assert created.status_code == 201, created.text
    manager = login(client, "m@alpha.example", "a long password")
    assert client.get(f"/v1/brands/{a}/api-keys", headers=manager).status_code == 200
    assert client.get(f"/v1/brands/{b}/api-keys", headers=manager).status_code == 403
    assert client.post(f"/v1/brands/{b}/api-keys", json={}, headers=manager).status_code == 403
    # only admins create operators
    again = client.post(
        "/v1/operators",
        json={"email": "x@alpha.example", "password": "a long password", "role": "admin"},
        headers=manager,
    )
    assert again.status_code == 403 and again.json()["code"] == "missing-scope"
    assert client.post("/v1/operators", json={"email": "bad"}, headers=admin_headers(client)).status_code == 422


def test_oversized_body_is_413_problem(offchain: Container) -> None:
    offchain.settings = offchain.settings.model_copy(update={"max_body_bytes": 1024})
    client = TestClient(create_app(offchain))
    response = client.post("/v1/operators", content=b"{" + b" " * 5000 + b"}", headers=admin_headers(client))
    assert response.status_code == 413
    assert response.json()["code"] == "body-too-large"
