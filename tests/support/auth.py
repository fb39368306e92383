"""Test helpers: operator tokens and onboarded brands with an API key, through the SDK on the app's `TestClient`."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from loyalty_client import LoyaltyClient, Operator, Transport


def _settings(client: TestClient) -> Any:
    return client.app.state.container.settings  # type: ignore[attr-defined]


def login(client: TestClient, email: str, password: str) -> dict[str, str]:
    return LoyaltyClient(http=client).login(email, password).headers


def admin_headers(client: TestClient) -> dict[str, str]:
    """`Authorization` headers of the bootstrap admin (cached on the client: argon2 is slow on purpose)."""
    cached: dict[str, str] | None = getattr(client, "_admin_headers", None)
    if cached is None:
        settings = _settings(client)
        cached = login(client, settings.admin_email, settings.admin_password)
        client._admin_headers = cached  # type: ignore[attr-defined]
    return cached


def admin(client: TestClient) -> Operator:
    """The bootstrap admin as the SDK's `Operator` (its token cached like `admin_headers`)."""
    token = admin_headers(client)["Authorization"].removeprefix("Bearer ")
    return Operator(Transport(client), token)


def key_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def create_api_key(client: TestClient, brand_id: int, scopes: list[str] | None = None) -> str:
    return str(admin(client).create_api_key(brand_id, "test", scopes)["key"])


def create_brand(
    client: TestClient, slug: str = "acme", *, use_coalition_token: bool = False, scopes: list[str] | None = None
) -> tuple[int, str]:
    """Onboard a brand (deploys its token, ~1 s on eth-tester) and create an API key: `(brand_id, api_key)`."""
    operator = admin(client)
    brand = operator.create_brand(
        slug.title(), slug, f"loyalty@{slug}.example", use_coalition_token=use_coalition_token
    )
    brand_id = int(brand["id"])
    return brand_id, str(operator.create_api_key(brand_id, "test", scopes)["key"])
