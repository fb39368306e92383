"""Loose types are refused, not coerced; error messages never name the server's internal models."""

from __future__ import annotations

from tests.integration.security.conftest import World

CAMPAIGN = {"name": "c", "codes": 2, "ends_at": "2099-01-01T00:00:00Z", "reward_amount": "1"}


def test_loose_types_are_422(world: World) -> None:
    c, admin, key = world.client, world.callers["admin"], world.callers["key_a"]
    brand = {"name": "Loose", "slug": "loose", "contact_email": "a@loose.example", "use_coalition_token": "yes"}
    assert c.post("/v1/brands", json=brand, headers=admin).status_code == 422
    assert c.post("/v1/qr/campaigns", json={**CAMPAIGN, "ends_at": 4102444800}, headers=key).status_code == 422
    assert c.post("/v1/qr/campaigns", json={**CAMPAIGN, "codes": "2"}, headers=key).status_code == 422
    self_consent = {"grantee_brand_id": world.brand_a}
    assert c.post(f"/v1/brands/{world.brand_a}/consents", json=self_consent, headers=key).status_code == 422
    assert c.get("/v1/brands/-1/analytics", headers=key).status_code == 422
    long_host = {"url": "https://" + "a" * 5000 + ".example.com/x", "event_types": ["action.credited"]}
    assert c.post(f"/v1/brands/{world.brand_a}/webhooks", json=long_host, headers=key).status_code == 422


def test_validation_messages_never_name_internal_models(world: World) -> None:
    schema = world.client.app.openapi()  # type: ignore[attr-defined]
    names = set(schema["components"]["schemas"])
    seen = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation or "{" in path:
                continue
            for body in ([], "x", {"a": {"b": [1]}}, [{"x": 1}]):
                response = world.client.request(method, path, json=body, headers=world.callers["admin"])
                if response.status_code != 422:
                    continue
                seen += 1
                text = response.text
                leaked = [n for n in names if len(n) > 3 and (f"instance of {n}" in text or f'"{n}"' in text)]
                assert leaked == [], (method, path, text)
    assert seen > 10


def test_one_of_fields_are_declared_in_the_openapi(world: World) -> None:
    """GDPR subjects (wallet | customer_id) and QR campaigns (promotion_id | reward_amount): the one-of that the
    server enforces is in the schema, so generated clients and the fuzzer know it."""
    schemas = world.client.get("/openapi.json").json()["components"]["schemas"]
    for model, fields in (("SubjectIn", ["wallet", "customer_id"]), ("CampaignIn", ["promotion_id", "reward_amount"])):
        assert [branch["required"] for branch in schemas[model]["oneOf"]] == [[f] for f in fields]
