"""Test helpers: operator tokens and onboarded brands with an API key, through the real HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _settings(client: TestClient) -> Any:
    return client.app.state.container.settings  # type: ignore[attr-defined]


def login(client: TestClient, email: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def admin_headers(client: TestClient) -> dict[str, str]:
    """`Authorization` headers of the bootstrap admin (cached on the client: argon2 is slow on purpose)."""
    cached: dict[str, str] | None = getattr(client, "_admin_headers", None)
    if cached is None:
        settings = _settings(client)
        cached = login(client, settings.admin_email, settings.admin_password)
        client._admin_headers = cached  # type: ignore[attr-defined]
    return cached


def key_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def create_api_key(client: TestClient, brand_id: int, scopes: list[str] | None = None) -> str:
    body: dict[str, Any] = {"name": "test"}
    if scopes is not None:
        body["scopes"] = scopes
    response = client.post(f"/v1/brands/{brand_id}/api-keys", json=body, headers=admin_headers(client))
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def create_brand(
    client: TestClient, slug: str = "acme", *, use_coalition_token: bool = False, scopes: list[str] | None = None
) -> tuple[int, str]:
    """Onboard a brand (deploys its token, ~1 s on eth-tester) and create an API key: `(brand_id, api_key)`."""
    response = client.post(
        "/v1/brands",
        json={
            "name": slug.title(),
            "slug": slug,
            "contact_email": f"loyalty@{slug}.example",
            "use_coalition_token": use_coalition_token,
        },
        headers=admin_headers(client),
    )
    assert response.status_code == 201, response.text
    brand_id = int(response.json()["id"])
    return brand_id, create_api_key(client, brand_id, scopes)
