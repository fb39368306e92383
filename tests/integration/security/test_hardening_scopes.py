"""Scopes: every operation of the app is in the table below, and a brand API key gets exactly what its scopes say.

Routes come from `app.routes` at run time: a new route fails `test_every_route_has_an_entry` until it is given a
scope (or a reason it needs none). For each scoped route a key of brand A holding every scope but that one is
refused with 403 `missing-scope`, and a key holding only that one gets past the check on A's own resources.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from backend.services.foundation.api_keys import DEFAULT_SCOPES, KEY_SCOPES
from tests.integration.security.conftest import World
from tests.integration.security.test_security_matrix import PUBLIC, SAMPLE_BODIES, fill, routes

READ = "analytics:read"
WRITE = "promotions:write"
ACTIONS = "actions:write"
# The scope a brand API key needs, per operation.
SCOPE_OF: dict[tuple[str, str], str] = {
    ("GET", "/v1/brands/{brand_id}/analytics"): READ,
    ("GET", "/v1/brands/{brand_id}/leaderboard"): READ,
    ("GET", "/v1/analytics/cross-brand"): READ,
    ("GET", "/v1/dashboard/summary"): READ,
    ("POST", "/v1/qr/campaigns"): WRITE,
    ("GET", "/v1/qr/campaigns"): READ,
    ("GET", "/v1/qr/campaigns/{campaign_id}"): READ,
    ("PATCH", "/v1/qr/campaigns/{campaign_id}"): WRITE,
    ("GET", "/v1/qr/campaigns/{campaign_id}/codes"): WRITE,  # the codes are bearer credentials
    ("GET", "/v1/qr/campaigns/{campaign_id}/codes/{code_id}.png"): WRITE,
    ("GET", "/v1/qr/campaigns/{campaign_id}/codes/{code_id}.svg"): WRITE,
    ("GET", "/v1/qr/campaigns/{campaign_id}/export.zip"): WRITE,
    ("GET", "/v1/qr/campaigns/{campaign_id}/sheet.html"): WRITE,
    ("GET", "/v1/qr/campaigns/{campaign_id}/claims"): READ,
    ("POST", "/v1/brands/{brand_id}/consents"): WRITE,
    ("GET", "/v1/brands/{brand_id}/consents"): READ,
    ("POST", "/v1/brands/{brand_id}/promotions"): WRITE,
    ("GET", "/v1/brands/{brand_id}/promotions"): READ,
    ("GET", "/v1/brands/{brand_id}/promotions/{promotion_id}"): READ,
    ("PUT", "/v1/brands/{brand_id}/promotions/{promotion_id}"): WRITE,
    ("POST", "/v1/brands/{brand_id}/promotions/{promotion_id}:preview"): READ,
    ("POST", "/v1/actions"): ACTIONS,
    ("POST", "/v1/actions:batch"): ACTIONS,
    ("GET", "/v1/action-imports"): ACTIONS,
    ("GET", "/v1/action-imports/{import_id}"): ACTIONS,
    ("GET", "/v1/action-imports/{import_id}/results"): ACTIONS,
    ("POST", "/v1/brands/{brand_id}/webhooks"): WRITE,
    ("GET", "/v1/brands/{brand_id}/webhooks"): READ,
    ("GET", "/v1/brands/{brand_id}/webhooks/{webhook_id}"): READ,
    ("DELETE", "/v1/brands/{brand_id}/webhooks/{webhook_id}"): WRITE,
    ("POST", "/v1/brands/{brand_id}/webhooks/{webhook_id}:rotate-secret"): WRITE,
    ("GET", "/v1/brands/{brand_id}/webhooks/{webhook_id}/deliveries"): READ,
    ("POST", "/v1/brands/{brand_id}/webhooks/{webhook_id}/deliveries/{delivery_id}:replay"): WRITE,
    ("GET", "/v1/gdpr/export"): "gdpr:export",
    ("POST", "/v1/gdpr/erase"): "gdpr:erase",
    ("PUT", "/v1/brands/{brand_id}/tiers"): WRITE,
    ("POST", "/v1/brands/{brand_id}/offers"): WRITE,
    ("GET", "/v1/brands/{brand_id}/offers"): READ,
    ("GET", "/v1/brands/{brand_id}/redemptions"): READ,
}
# Any valid credential, no scope (a reason each).
ANY_CREDENTIAL = {
    ("GET", "/v1/auth/me"): "who the credentials belong to",
    ("GET", "/v1/brands"): "the caller's own brand (filtered inside)",
    ("GET", "/v1/brands/{brand_id}"): "the caller's own brand's name and token",
}
# Never with an API key, whatever its scopes.
NOT_FOR_KEYS = {
    ("POST", "/v1/brands"): "platform admins (`brands:admin`, never a key scope)",
    ("POST", "/v1/operators"): "platform admins",
    ("POST", "/v1/coalition/consents"): "platform admins",
    ("GET", "/v1/dashboard/reconcile"): "operators: the whole mirror, every brand",
    ("POST", "/v1/brands/{brand_id}/api-keys"): "keys are managed by the brand's manager or an admin",
    ("GET", "/v1/brands/{brand_id}/api-keys"): "managers",
    ("POST", "/v1/brands/{brand_id}/api-keys/{key_id}:revoke"): "managers",
    ("DELETE", "/v1/brands/{brand_id}/api-keys/{key_id}"): "managers",
    ("POST", "/v1/brands/{brand_id}/api-keys/{key_id}:rotate"): "managers",
    ("GET", "/v1/me/profile"): "shopper session",
    ("PATCH", "/v1/me/profile"): "shopper session",
    ("GET", "/v1/shoppers/{wallet}/profile"): "shopper session",
    ("POST", "/v1/offers/{offer_id}/redemptions:prepare"): "shopper session",
    ("POST", "/v1/redemptions"): "shopper session",
    ("GET", "/v1/me/redemptions"): "shopper session",
    ("GET", "/v1/shoppers/{wallet}/redemptions"): "shopper session",
    ("GET", "/v1/redemptions/{redemption_id}"): "shopper session",
    ("GET", "/v1/redemptions/{redemption_id}/qr.png"): "shopper session",
    ("GET", "/v1/redemptions/{redemption_id}/qr.svg"): "shopper session",
}
SAMPLE_QUERIES = {("GET", "/v1/gdpr/export"): {"customer_id": "nobody-here"}}
EXTRA_BODIES = {("POST", "/v1/gdpr/erase"): {"customer_id": "nobody-here"}}


@pytest.fixture(scope="module")
def key_of(world: World) -> dict[str, dict[str, str]]:
    """Brand A's keys: `only:<scope>` and `all-but:<scope>` for every key scope, and `all`."""
    wanted = {"all": sorted(KEY_SCOPES)}
    for scope in KEY_SCOPES:
        wanted[f"only:{scope}"] = [scope]
        wanted[f"all-but:{scope}"] = sorted(KEY_SCOPES - {scope})
    keys = {}
    for name, scopes in wanted.items():
        body = {"name": name, "scopes": scopes}
        response = world.client.post(f"/v1/brands/{world.brand_a}/api-keys", json=body, headers=world.callers["admin"])
        assert response.status_code == 201, response.text
        keys[name] = {"Authorization": f"Bearer {response.json()['key']}"}
    return keys


def _call(world: World, method: str, path: str, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": headers, "params": SAMPLE_QUERIES.get((method, path))}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = EXTRA_BODIES.get((method, path), SAMPLE_BODIES.get((method, path), {}))
    return world.client.request(method, fill(path, world), **kwargs)


def test_every_route_has_an_entry(world: World) -> None:
    seen = {(m, p) for m, p, _ in routes(world)}
    listed = set(SCOPE_OF) | set(ANY_CREDENTIAL) | set(NOT_FOR_KEYS) | set(PUBLIC)
    assert not (seen - listed), f"give these a scope in SCOPE_OF (or a reason): {sorted(seen - listed)}"
    assert not (set(SCOPE_OF) | set(ANY_CREDENTIAL) | set(NOT_FOR_KEYS)) - seen, "listed but gone"
    assert set(SCOPE_OF.values()) <= KEY_SCOPES


def test_a_key_without_the_scope_is_refused_with_missing_scope(world: World, key_of: dict[str, Any]) -> None:
    failures = []
    for (method, path), scope in sorted(SCOPE_OF.items()):
        response = _call(world, method, path, key_of[f"all-but:{scope}"])
        if response.status_code != 403 or response.json().get("code") != "missing-scope":
            failures.append((method, path, scope, response.status_code, response.text[:120]))
    assert not failures, "\n".join(map(str, failures))


def test_a_key_with_only_the_scope_gets_past_the_check(world: World, key_of: dict[str, Any]) -> None:
    failures = []
    for (method, path), scope in sorted(SCOPE_OF.items()):
        response = _call(world, method, path, key_of[f"only:{scope}"])
        if response.status_code in (401, 403) or response.status_code >= 500:
            failures.append((method, path, scope, response.status_code, response.text[:120]))
    assert not failures, "\n".join(map(str, failures))


def test_no_key_reaches_operator_or_shopper_routes(world: World, key_of: dict[str, Any]) -> None:
    failures = []
    for method, path in sorted(NOT_FOR_KEYS):
        status = _call(world, method, path, key_of["all"]).status_code
        if status not in (401, 403):
            failures.append((method, path, status))
    assert not failures, "\n".join(map(str, failures))


def test_any_credential_routes_need_a_credential_only(world: World, key_of: dict[str, Any]) -> None:
    for method, path in ANY_CREDENTIAL:
        assert _call(world, method, path, {}).status_code == 401
        assert _call(world, method, path, key_of[f"only:{ACTIONS}"]).status_code == 200


def test_an_analytics_key_cannot_erase_or_export_customers(world: World, key_of: dict[str, Any]) -> None:
    """The reported case: an `analytics:read`-only key erased customer data."""
    key = key_of[f"only:{READ}"]
    erase = world.client.post("/v1/gdpr/erase", json={"customer_id": "cust-1"}, headers=key)
    assert erase.status_code == 403 and erase.json()["code"] == "missing-scope"
    export = world.client.get("/v1/gdpr/export", params={"customer_id": "cust-1"}, headers=key)
    assert export.status_code == 403 and export.json()["code"] == "missing-scope"
    default = world.client.post(
        f"/v1/brands/{world.brand_a}/api-keys", json={"name": "default"}, headers=world.callers["admin"]
    ).json()
    assert sorted(default["scopes"]) == sorted(DEFAULT_SCOPES)
    assert not any(s.startswith("gdpr:") for s in DEFAULT_SCOPES)


def test_the_feed_needs_the_read_scope(world: World, key_of: dict[str, Any]) -> None:
    def close_code(headers: dict[str, str]) -> int:
        token = headers["Authorization"].removeprefix("Bearer ")
        with pytest.raises(WebSocketDisconnect) as exc, world.client.websocket_connect(f"/v1/feed?token={token}") as ws:
            ws.receive_json()
        return int(exc.value.code)

    assert close_code(key_of[f"all-but:{READ}"]) == 4403
    with world.client.websocket_connect(f"/v1/feed?token={key_of[f'only:{READ}']['Authorization'][7:]}"):
        pass


@pytest.mark.parametrize("scopes", [[], ["everything"], ["analytics:read", "brands:admin"], [""]])
def test_empty_or_unknown_scopes_are_refused(world: World, scopes: list[str]) -> None:
    response = world.client.post(
        f"/v1/brands/{world.brand_a}/api-keys", json={"name": "x", "scopes": scopes}, headers=world.callers["admin"]
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_empty_scope_list_is_refused_by_the_service_too(world: World) -> None:
    """Not only the HTTP schema: `create_key` itself never reads `[]` as "the defaults" (or everything)."""
    from backend.services.foundation import api_keys

    with world.container.uow() as uow, pytest.raises(api_keys.InvalidScopes):
        api_keys.create_key(uow.session, world.brand_a, "x", [])


def test_the_scopes_are_an_enum_in_openapi(world: World) -> None:
    schema = world.client.get("/openapi.json").json()["components"]["schemas"]["ApiKeyIn"]["properties"]["scopes"]
    items = next(option for option in schema["anyOf"] if option.get("type") == "array")
    assert set(items["items"]["enum"]) == KEY_SCOPES and items["minItems"] == 1
