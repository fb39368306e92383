"""QR fixtures: a platform with Redis (per-test key prefix) and campaigns made through the service layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.adapters.chain.client import ChainClient, connect
from backend.bootstrap import Container, provision
from tests.conftest import make_settings, wipe_postgres
from tests.integration.qr.campaigns import MakeCampaign, campaign_factory


@pytest.fixture(scope="module")
def qr_chain() -> ChainClient:
    """QR never touches the chain: one in-process chain per module saves a second per test."""
    return connect(["eth-tester://"])


@pytest.fixture
def qr_container(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str, qr_chain: ChainClient
) -> Iterator[Container]:
    settings = make_settings(db_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    c = provision(settings, chain=qr_chain, with_contracts=False)
    yield c
    c.close()


@pytest.fixture
def make_campaign(qr_container: Container) -> MakeCampaign:
    return campaign_factory(qr_container)


@pytest.fixture
def pg_container(
    pg_url: str, tmp_path: Path, redis_url: str, redis_prefix: str, qr_chain: ChainClient
) -> Iterator[Container]:
    """PostgreSQL + Redis only: concurrency is only meaningful with real row locks."""
    wipe_postgres(pg_url)
    settings = make_settings(pg_url, tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    c = provision(settings, chain=qr_chain, with_contracts=False)
    yield c
    c.close()
    wipe_postgres(pg_url)
