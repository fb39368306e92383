"""Shopper fixtures: one in-process chain for the directory, a fresh database per test, signing wallets."""

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
from tests.integration.shoppers.kit import SHOPPER_OVERRIDES, Shop
from tests.support.auth import create_brand


@pytest.fixture
def container(
    db_url: str,
    tmp_path: Path,
    shared_chain: tuple[ChainClient, PlatformContracts],
    sqlite_template: Path,
) -> Iterator[Container]:
    use_template(db_url, sqlite_template)
    chain, contracts = shared_chain
    c = provision(make_settings(db_url, tmp_path, **SHOPPER_OVERRIDES), chain=chain, with_contracts=False)
    c.contracts = contracts
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(create_app(container))


@pytest.fixture
def shop(client: TestClient, container: Container) -> Shop:
    brand_id, key = create_brand(client, "shoe-shop")
    return Shop(client, container, brand_id, key)
