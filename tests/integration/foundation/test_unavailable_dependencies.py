"""A request that meets a lost database or a failing node gets 503 problem+json with Retry-After, not 500.

Found by scripts/chaos.py: QR claims during a database restart and `GET /v1/offers/available` while the RPC
proxy answered errors were 500 `internal-error`, which clients do not retry.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from backend.adapters.chain.client import connect
from backend.bootstrap import Container
from backend.entrypoints.api.app import create_app
from backend.services.foundation import api_keys
from devtools.rpc_proxy import RpcProxy
from tests.support.auth import create_brand, key_headers

WALLET = "0x" + "ab" * 20


def assert_unavailable(r: httpx.Response, code: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "1"
    assert r.json()["code"] == code


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_lost_database_is_503(container: Container) -> None:
    client = TestClient(create_app(container), raise_server_exceptions=False)
    assert client.get("/v1/offers/1").status_code == 404
    dead = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone", connect_args={"connect_timeout": 2})
    container.sessions.configure(bind=dead)  # the server refuses connections, as during a restart
    try:
        assert_unavailable(client.get("/v1/offers/1"), "database-unavailable")
        claim = client.post("/v1/qr/claims", json={"code": "x", "wallet": WALLET})
        assert claim.status_code == 422  # bad input is still refused before the database is needed
    finally:
        container.sessions.configure(bind=container.engine)
        dead.dispose()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_lost_database_while_verifying_an_api_key_is_503(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by scripts/chaos.py: the rate limiter looks a key up again every few seconds, outside the app's
    exception handlers, so a purchase sent while database connections were terminated got a bare 500."""
    client = TestClient(create_app(container), raise_server_exceptions=False)
    brand_id, key = create_brand(client, "acme")
    purchase = {
        "idempotency_key": "p-1",
        "type": "purchase",
        "wallet": WALLET,
        "order_id": "p-1",
        "amount": "10.00",
        "currency": "USD",
    }
    first = client.post("/v1/actions", json=purchase, headers=key_headers(key))
    assert first.status_code == 201, first.text
    monkeypatch.setattr(api_keys, "CACHE_TTL_S", -1.0)  # every request looks its key up, as after the TTL
    dead = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone", connect_args={"connect_timeout": 2})
    container.sessions.configure(bind=dead)
    try:
        again = {**purchase, "idempotency_key": "p-2", "order_id": "p-2"}
        assert_unavailable(client.post("/v1/actions", json=again, headers=key_headers(key)), "database-unavailable")
        assert_unavailable(client.get(f"/v1/brands/{brand_id}", headers=key_headers(key)), "database-unavailable")
    finally:
        container.sessions.configure(bind=container.engine)
        dead.dispose()
    assert client.post("/v1/actions", json=again, headers=key_headers(key)).status_code == 201  # nothing lost


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_node_error_answers_are_503(container: Container) -> None:
    client = TestClient(create_app(container), raise_server_exceptions=False)
    with RpcProxy("http://127.0.0.1:1", seed=1) as proxy:
        proxy.set_rates(error=1.0)  # every call answered with a JSON-RPC error
        container.chain = connect([proxy.url])
        assert_unavailable(client.get("/v1/offers/available", params={"wallet": WALLET}), "chain-unavailable")
