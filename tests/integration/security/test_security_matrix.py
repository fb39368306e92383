"""Who may call what: every route of the app × every kind of caller, data-driven.

Routes come from `app.routes` at run time, so a new route is covered the day it is added: unless it is listed
below as public, shared or admin-only, it is treated as brand data and must refuse brand B (and shoppers,
viewers) on brand A's resources with 401/403/404, and anonymous callers with 401.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIWebSocketRoute
from starlette.routing import BaseRoute

from tests.integration.security.conftest import SAMPLE_WEBHOOK, World

# Anyone may call these (a reason each).
PUBLIC = {
    ("GET", "/openapi.json"): "API description",
    ("GET", "/docs"): "API description",
    ("GET", "/docs/oauth2-redirect"): "API description",
    ("GET", "/redoc"): "API description",
    ("GET", "/health"): "probes",
    ("GET", "/metrics"): "Prometheus scrape (aggregates, no personal or per-brand secrets)",
    ("POST", "/v1/auth/token"): "login",
    ("POST", "/v1/auth/siwe/nonce"): "shopper sign-in",
    ("POST", "/v1/auth/siwe/verify"): "shopper sign-in",
    ("POST", "/v1/qr/claims"): "the signed single-use code is the credential",
    ("GET", "/v1/offers/{offer_id}"): "offers are public catalogue entries",
    ("GET", "/v1/brands/{brand_id}/tiers"): "tier thresholds are published programme rules (shopper app)",
    ("GET", "/v1/batches"): "minting status is transparent (ids, states, tx hashes: chain data)",
    ("GET", "/v1/batches/{batch_id}"): "minting status is transparent",
    ("GET", "/v1/wallets/{address}/balances"): "on-chain balances, public on the chain anyway",
    ("GET", "/v1/wallets/{address}/rewards"): "a wallet's pending and minted rewards (shopper view; no personal data)",
    ("GET", "/v1/audit/batches/{batch_id}/manifest"): "auditors verify from published manifests",
    ("GET", "/v1/audit/actions/{action_id}"): "an action's trail with on-chain proofs (no personal data)",
    ("GET", "/v1/offers/available"): "offers a wallet may claim (catalogue)",
    ("GET", "/dashboard"): "static page; its data comes from authenticated /v1/dashboard/*",
    ("GET", "/dashboard/{name}"): "static assets",
    ("POST", "/rpc"): "embedded-chain JSON-RPC passthrough for the dashboard (no signing, no rewinds)",
}
# Any authenticated caller; not one brand's data (or scoped to the caller inside).
SHARED = {
    ("GET", "/v1/auth/me"),
    ("GET", "/v1/brands"),  # filtered to the caller's brand
    ("POST", "/v1/actions"),  # the brand comes from the credentials
    ("POST", "/v1/actions:batch"),
    ("GET", "/v1/action-imports"),  # the caller's brand's imports only: see test_action_imports
    ("POST", "/v1/qr/campaigns"),
    ("GET", "/v1/qr/campaigns"),
    ("GET", "/v1/gdpr/export"),  # scoped inside: see test_notif_gdpr
    ("POST", "/v1/gdpr/erase"),
    ("GET", "/v1/analytics/cross-brand"),
    ("GET", "/v1/me/profile"),
    ("PATCH", "/v1/me/profile"),
    ("GET", "/v1/me/redemptions"),
    ("POST", "/v1/redemptions"),
    ("POST", "/v1/offers/{offer_id}/redemptions:prepare"),
    ("GET", "/v1/dashboard/summary"),
    ("GET", "/v1/dashboard/reconcile"),
}
READ_ONLY_POSTS = {("POST", "/v1/brands/{brand_id}/promotions/{promotion_id}:preview")}  # a dry run
ADMIN_ONLY = {("POST", "/v1/brands"), ("POST", "/v1/operators"), ("POST", "/v1/coalition/consents")}
WEBSOCKETS = {"/v1/feed"}  # authenticated and brand-scoped: tests/integration/notifications/test_notif_feed.py
OTHER_TENANTS = ("manager_b", "key_b", "shopper", "viewer")
DENIED = {401, 403, 404}
SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/brands/{brand_id}/webhooks"): SAMPLE_WEBHOOK,
    ("POST", "/v1/brands/{brand_id}/promotions"): {
        "name": "x",
        "rules": [{"key": "k", "kind": "fixed", "action_types": ["purchase"], "amount": "1"}],
    },
    ("PUT", "/v1/brands/{brand_id}/promotions/{promotion_id}"): {
        "name": "x",
        "rules": [{"key": "k", "kind": "fixed", "action_types": ["purchase"], "amount": "1"}],
    },
    ("POST", "/v1/brands/{brand_id}/promotions/{promotion_id}:preview"): {
        "type": "purchase",
        "wallet": "0x" + "cd" * 20,
        "order_id": "o",
        "amount": "1",
        "currency": "EUR",
    },
    ("POST", "/v1/brands/{brand_id}/consents"): {"grantee_brand_id": 1},
    ("POST", "/v1/brands/{brand_id}/api-keys"): {"name": "x"},
    ("PATCH", "/v1/qr/campaigns/{campaign_id}"): {"state": "paused"},
    ("POST", "/v1/brands/{brand_id}/offers"): {"title": "o", "cost": "1", "stock": 1},
    ("PUT", "/v1/brands/{brand_id}/tiers"): {"silver": "1", "gold": "2", "platinum": "3"},
}


def routes(world: World) -> Iterator[tuple[str, str, BaseRoute]]:
    """(method, path, route) of every HTTP route, through FastAPI's lazily included routers."""

    def walk(items: list[Any]) -> Iterator[Any]:
        for item in items:
            nested = getattr(item, "effective_candidates", None)
            yield from walk(nested()) if callable(nested) else [item]

    for route in walk(list(world.client.app.routes)):  # type: ignore[attr-defined]
        for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
            yield method, route.path, route


def fill(path: str, world: World) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: world.params.get(m.group(1), "1"), path)


def call(world: World, method: str, path: str, caller: str) -> tuple[int, bool]:
    """Status of `caller` on brand A's instance of `path`, and whether a valid sample body was sent."""
    body = SAMPLE_BODIES.get((method, path))
    kwargs: dict[str, Any] = {"headers": world.callers[caller]}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = body if body is not None else {}
    response = world.client.request(method, fill(path, world), **kwargs)
    return response.status_code, body is not None


def test_every_route_is_seen(world: World) -> None:
    seen = {(m, p) for m, p, _ in routes(world)}
    assert {k for k in PUBLIC if k in seen}, "no public route found: route discovery is broken"
    assert ("POST", "/v1/brands/{brand_id}/webhooks") in seen and len(seen) > 40
    stale = [k for k in (set(PUBLIC) | SHARED | ADMIN_ONLY) if k not in seen and not k[1].startswith("/dashboard")]
    assert not [k for k in stale if k[1] not in ("/rpc",)], f"listed but gone: {stale}"
    sockets = set()
    for route in world.client.app.routes:  # type: ignore[attr-defined]
        for inner in getattr(route, "effective_candidates", lambda route=route: [route])():
            if isinstance(getattr(inner, "_effective_route", inner), APIWebSocketRoute):
                sockets.add(inner.path)
    assert sockets <= WEBSOCKETS


def test_anonymous_callers_get_401_everywhere_but_public_routes(world: World) -> None:
    failures = []
    checked = 0
    for method, path, _ in routes(world):
        if (method, path) in PUBLIC:
            continue
        checked += 1
        status, _ = call(world, method, path, "anonymous")
        if status != 401:
            failures.append((method, path, status))
    assert not failures, "\n".join(map(str, failures))
    assert checked > 40


def test_no_other_tenant_reads_or_changes_brand_a(world: World) -> None:
    failures, unchecked = [], []
    for method, path, _ in routes(world):
        if (method, path) in PUBLIC or (method, path) in SHARED or (method, path) in ADMIN_ONLY:
            continue
        for caller in OTHER_TENANTS:
            if caller not in world.callers or (caller == "viewer" and method == "GET" and "{brand_id}" not in path):
                continue
            status, sample = call(world, method, path, caller)
            if status == 422 and not sample:
                unchecked.append((method, path))  # refused by validation first: no sample body to get further
            elif status not in DENIED:
                failures.append((caller, method, path, status))
    assert not failures, "\n".join(map(str, failures))
    missing = sorted(set(unchecked))
    assert missing == [], f"add a SAMPLE_BODIES entry so the tenant check reaches the route: {missing}"


def test_admin_only_routes_refuse_everyone_else(world: World) -> None:
    failures = []
    for method, path in sorted(ADMIN_ONLY):
        for caller in world.callers:
            if caller == "admin":
                continue
            status, _ = call(world, method, path, caller)
            if status not in (401, 403):
                failures.append((caller, method, path, status))
    assert not failures, "\n".join(map(str, failures))


def test_read_only_roles_change_nothing(world: World) -> None:
    failures = []
    for method, path, _ in routes(world):
        if method == "GET" or (method, path) in set(PUBLIC) | READ_ONLY_POSTS or path.startswith("/v1/gdpr"):
            continue
        for caller in ("auditor", "viewer"):
            status, sample = call(world, method, path, caller)
            if status < 400 or status >= 500 or (status == 422 and sample):
                failures.append((caller, method, path, status))
    assert not failures, "\n".join(map(str, failures))


def test_brand_a_reaches_its_own_resources(world: World) -> None:
    """The refusals above are about tenancy: A's own credentials get through on the same reads."""
    failures = []
    for method, path, _ in routes(world):
        if method != "GET" or "{brand_id}" not in path:
            continue
        statuses = {call(world, method, path, caller)[0] for caller in ("key_a", "manager_a")}
        if statuses <= {401, 403}:  # API keys are managed by managers: one of the two suffices
            failures.append((method, path, statuses))
    assert not failures, "\n".join(map(str, failures))
