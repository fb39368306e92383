"""Earning fixtures: an app around the platform container, and one onboarded brand (token deploys cost ~1 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.adapters.chain.client import ChainClient
from backend.bootstrap import Container, provision
from backend.entrypoints.api.app import create_app
from backend.services.foundation.deployment import PlatformContracts
from tests.conftest import make_settings, use_template
from tests.support.auth import create_brand
from tests.support.shop import Shop


@pytest.fixture
def fresh_db(db_url: str, sqlite_template: Path) -> str:
    return use_template(db_url, sqlite_template)


@pytest.fixture
def container(
    fresh_db: str, tmp_path: Path, shared_chain: tuple[ChainClient, PlatformContracts]
) -> Iterator[Container]:
    """A fresh database per test around the shared chain (overrides the global fixture in this directory)."""
    db_url = fresh_db
    chain, contracts = shared_chain
    c = provision(make_settings(db_url, tmp_path), chain=chain, with_contracts=False)
    c.contracts = contracts
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(create_app(container))


@pytest.fixture
def shop(client: TestClient, container: Container) -> Shop:
    brand_id, key = create_brand(client, "acme")
    return Shop(client, container, brand_id, key)
