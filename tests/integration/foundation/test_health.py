"""The platform boots on the embedded chain with its contracts deployed, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from backend.adapters.chain.contracts import token_contract
from backend.bootstrap import Container, provision
from backend.entrypoints.api.app import create_app
from tests.conftest import make_settings


def test_health_reports_database_chain_and_contracts(container: Container) -> None:
    client = TestClient(create_app(container))
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["chain"]["chain_id"] == container.chain.chain_id
    assert body["chain"]["factory"] == container.contracts.factory.address  # type: ignore[union-attr]
    assert body["redis"] == {"ok": True, "configured": False}


def test_coalition_token_is_live_and_hot_wallets_can_mint(container: Container) -> None:
    assert container.contracts is not None
    token = token_contract(container.chain, container.contracts.coalition.address)
    assert token.functions.symbol().call() == "LOYAL"
    minter_role = token.functions.MINTER_ROLE().call()
    for wallet in container.hot_wallets:
        assert token.functions.hasRole(minter_role, wallet.address).call()


def test_bootstrap_reuses_recorded_deployments(db_url: str, tmp_path: Path, container: Container) -> None:
    again = provision(make_settings(db_url, tmp_path), chain=container.chain)
    try:
        assert again.contracts == container.contracts
    finally:
        again.close()
    assert (tmp_path / "deployments" / f"{container.chain.chain_id}.json").exists()


def test_health_degrades_when_redis_is_down(db_url: str, tmp_path: Path) -> None:
    c = provision(make_settings(db_url, tmp_path, redis_url="redis://127.0.0.1:1/0"))
    try:
        response = TestClient(create_app(c)).get("/health")
        assert response.status_code == 503
        assert response.json()["redis"]["ok"] is False
    finally:
        c.close()


def test_unknown_route_is_a_problem_document(container: Container) -> None:
    response = TestClient(create_app(container)).get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not-found"
