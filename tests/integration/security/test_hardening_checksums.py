"""Money typed wrong is money lost: every address a client sends must be 0x-hex and, if mixed case, EIP-55 exact.

The OpenAPI walk finds every address-like input (a parameter or body field named like an address, or declaring
the address pattern); each must declare the pattern, have a row in SITES, and refuse a one-letter case change with
`invalid-address-checksum` and a missing `0x` with `invalid-address`, while all-lowercase is accepted.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from backend.domain.addresses import ADDRESS_PATTERN
from backend.services.shoppers.siwe import message_text
from tests.integration.security.conftest import World

GOOD = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55's own example
BAD = GOOD[:-2] + "e" + GOOD[-1]  # one letter's case changed (E → e)
OTHER = "0x" + "ef" * 20
ADDRESS_NAME = re.compile(r"(^|_)(wallet|address|referrer|token)$")

Send = Callable[[World, str], httpx.Response]


def _action(world: World, **fields: Any) -> httpx.Response:
    key = uuid.uuid4().hex
    body = {"idempotency_key": key, "type": "purchase", "wallet": OTHER, "order_id": key, "amount": "5"}
    return world.client.post("/v1/actions", json={**body, "currency": "EUR", **fields}, headers=world.callers["key_a"])


def _batch(world: World, **fields: Any) -> httpx.Response:
    action = {"idempotency_key": uuid.uuid4().hex, "type": "referral", "wallet": OTHER, "referrer": GOOD.lower()}
    body = {"actions": [{**action, **fields}]}
    return world.client.post("/v1/actions:batch", json=body, headers=world.callers["key_a"])


def _preview(world: World, **fields: Any) -> httpx.Response:
    p = world.params
    body = {"type": "referral", "wallet": OTHER, "referrer": GOOD.lower(), **fields}
    path = f"/v1/brands/{p['brand_id']}/promotions/{p['promotion_id']}:preview"
    return world.client.post(path, json=body, headers=world.callers["key_a"])


def _get_as(path: str, role: str, **params: str) -> Send:
    def send(world: World, a: str) -> httpx.Response:
        query = {k: v.format(a=a) for k, v in params.items()}
        return world.client.get(path.format(a=a), params=query, headers=_headers(world, role))

    return send


def _headers(world: World, role: str) -> dict[str, str]:
    if role == "shopper":  # signed in as GOOD: only the address's spelling decides
        from backend.entrypoints.api.shopper_auth import issue_session

        token, _ = issue_session(world.container, GOOD, world.container.chain.chain_id)
        return {"Authorization": f"Bearer {token}"}
    return world.callers[role]


SITES: dict[str, Send] = {
    "POST /v1/actions body.wallet": lambda w, a: _action(w, wallet=a),
    "POST /v1/actions body.referrer": lambda w, a: _action(w, type="referral", referrer=a),
    "POST /v1/actions:batch body.actions[].wallet": lambda w, a: _batch(w, wallet=a),
    "POST /v1/actions:batch body.actions[].referrer": lambda w, a: _batch(w, referrer=a),
    "POST /v1/brands/{brand_id}/promotions/{promotion_id}:preview body.wallet": lambda w, a: _preview(w, wallet=a),
    "POST /v1/brands/{brand_id}/promotions/{promotion_id}:preview body.referrer": lambda w, a: _preview(w, referrer=a),
    "POST /v1/qr/campaigns body.token_address": lambda w, a: w.client.post(
        "/v1/qr/campaigns",
        json={"name": "c", "codes": 1, "ends_at": "2099-01-01T00:00:00Z", "reward_amount": "1", "token_address": a},
        headers=w.callers["key_a"],
    ),
    "POST /v1/qr/claims body.wallet": lambda w, a: w.client.post("/v1/qr/claims", json={"code": "x", "wallet": a}),
    "POST /v1/gdpr/erase body.wallet": lambda w, a: w.client.post(
        "/v1/gdpr/erase", json={"wallet": a}, headers=w.callers["admin"]
    ),
    "GET /v1/gdpr/export query.wallet": _get_as("/v1/gdpr/export", "admin", wallet="{a}"),
    "GET /v1/wallets/{address}/balances path.address": _get_as("/v1/wallets/{a}/balances", "anonymous"),
    "GET /v1/wallets/{address}/rewards path.address": _get_as("/v1/wallets/{a}/rewards", "anonymous"),
    "GET /v1/shoppers/{wallet}/profile path.wallet": _get_as("/v1/shoppers/{a}/profile", "shopper"),
    "GET /v1/shoppers/{wallet}/redemptions path.wallet": _get_as("/v1/shoppers/{a}/redemptions", "shopper"),
    "GET /v1/offers/available query.wallet": _get_as("/v1/offers/available", "anonymous", wallet="{a}"),
    "GET /v1/batches query.token": _get_as("/v1/batches", "anonymous", token="{a}"),
}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _variants(spec: dict[str, Any], schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    schema = _resolve(spec, schema)
    yield schema
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _variants(spec, sub)


def _fields(spec: dict[str, Any], schema: dict[str, Any], prefix: str, seen: frozenset[str]) -> Iterator[tuple]:
    """(dotted name, leaf name, schema) of every property reachable from a request body schema."""
    for variant in _variants(spec, schema):
        for name, prop in variant.get("properties", {}).items():
            yield f"{prefix}{name}", name, prop
            for sub in _variants(spec, prop):
                if sub.get("type") == "array" and "items" in sub:
                    yield from _fields(spec, sub["items"], f"{prefix}{name}[].", seen)
                elif sub.get("properties") and str(id(sub)) not in seen:
                    yield from _fields(spec, sub, f"{prefix}{name}.", seen | {str(id(sub))})


def _address_inputs(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            sites: list[tuple[str, str, dict[str, Any]]] = [
                (f"{p['in']}.{p['name']}", p["name"], p.get("schema", {})) for p in op.get("parameters", [])
            ]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                sites += [(f"body.{dotted}", leaf, s) for dotted, leaf, s in _fields(spec, body, "", frozenset())]
            for where, leaf, schema in sites:
                variants = [v for v in _variants(spec, schema) if v.get("type") != "null"]
                declared = any(v.get("pattern") == ADDRESS_PATTERN for v in variants)
                strings = any(v.get("type") == "string" for v in variants)
                if declared or (strings and ADDRESS_NAME.search(leaf)):
                    found[f"{method.upper()} {path} {where}"] = variants
    return found


@pytest.fixture(scope="module")
def inputs(world: World) -> dict[str, list[dict[str, Any]]]:
    return _address_inputs(world.client.get("/openapi.json").json())


def test_every_address_input_is_in_the_table_and_declares_the_pattern(inputs: dict[str, Any]) -> None:
    assert set(inputs) == set(SITES), "a new address input needs a row in SITES (and the Address type)"
    undeclared = [site for site, variants in inputs.items() if not any("pattern" in v for v in variants)]
    assert not undeclared
    for variants in inputs.values():
        assert {v["pattern"] for v in variants if "pattern" in v} == {ADDRESS_PATTERN}


@pytest.mark.parametrize("site", sorted(SITES))
def test_a_wrong_checksum_is_refused_everywhere(world: World, site: str) -> None:
    send = SITES[site]
    bad = send(world, BAD)
    assert bad.status_code == 422, bad.text
    assert bad.json()["code"] == "invalid-address-checksum", bad.text
    missing = send(world, GOOD[2:])
    assert missing.status_code == 422 and missing.json()["code"] == "invalid-address", missing.text
    for unchecked in (GOOD.lower(), "0x" + GOOD[2:].upper(), GOOD):
        ok = send(world, unchecked)
        assert ok.status_code < 500, ok.text
        assert ok.status_code != 422 or ok.json()["code"] not in ("invalid-address", "invalid-address-checksum")


def test_an_accepted_address_is_stored_checksummed(world: World) -> None:
    created = _action(world, wallet=GOOD.lower())
    assert created.status_code == 201, created.text
    assert created.json()["wallet"] == GOOD


def test_the_siwe_account_line_needs_its_checksum(world: World) -> None:
    message = message_text("testserver", BAD, world.container.chain.chain_id, "a" * 24)
    answer = world.client.post("/v1/auth/siwe/verify", json={"message": message, "signature": "0x" + "11" * 65})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid-address-checksum", answer.text


def test_the_audit_cli_refuses_a_wrong_checksum_before_any_io(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from backend.entrypoints.cli.main import app

    args = ["audit", "verify", "--rpc-url", "http://127.0.0.1:9", "--manifests", str(tmp_path), "--token", BAD]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "EIP-55" in result.output
