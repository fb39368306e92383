"""Bugs found by the security matrix and the fuzzer, each with the test that failed before its fix."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.services.earning.promotions import promotion_cache
from tests.integration.security.conftest import World


def test_a_tiny_token_amount_does_not_brick_the_brands_promotions(world: World) -> None:
    """A fixed rule of 1 base unit (e.g. a QR campaign's reward of "1") was stored as "1E-18", which the
    promotion parser refuses: once the cache expired every action and preview of the brand answered 500."""
    client: TestClient = world.client
    headers = world.callers["key_b"]
    rule = {"key": "tiny", "kind": "fixed", "action_types": ["purchase"], "amount": "0.000000000000000001"}
    created = client.post(
        f"/v1/brands/{world.brand_b}/promotions", json={"name": "tiny", "rules": [rule]}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["definition"]["rules"][0]["amount"] == "0.000000000000000001"
    promotion_cache.invalidate(world.brand_b)  # as after the cache's TTL
    body = {"type": "purchase", "wallet": "0x" + "cd" * 20, "order_id": "o", "amount": "1", "currency": "EUR"}
    preview = client.post(
        f"/v1/brands/{world.brand_b}/promotions/{created.json()['id']}:preview", json=body, headers=headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["total"] == "1"


def test_ids_beyond_the_database_range_are_invalid_input_not_500(world: World) -> None:
    """Found by the fuzzer: 2^63 as a path id overflowed SQLite's integers / PostgreSQL's bigint → 500."""
    admin = world.callers["admin"]
    huge = 2**63
    assert world.client.get(f"/v1/brands/{huge}/leaderboard", headers=admin).status_code == 422
    patched = world.client.patch(f"/v1/qr/campaigns/{huge}", json={"state": "active"}, headers=admin)
    assert patched.status_code == 422 and patched.json()["code"] == "invalid-input"


def test_openapi_documents_errors_as_problem_documents(world: World) -> None:
    """Found by the fuzzer: 422 was documented as FastAPI's `HTTPValidationError` JSON, never sent by this API."""
    schema = world.client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/brands/{brand_id}/webhooks"]["post"]
    assert list(operation["responses"]["422"]["content"]) == ["application/problem+json"]
    assert "application/problem+json" in operation["responses"]["default"]["content"]
