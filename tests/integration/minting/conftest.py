"""Fixtures of the minting pipeline tests: an anvil node (automine) and a `MintEnv` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.anvil import AnvilNode, anvil_available
from tests.conftest import wipe_postgres
from tests.support.mint_env import MintEnv


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    if not anvil_available():
        pytest.fail("anvil is required (node_modules/.bin/anvil)")
    with AnvilNode() as anvil:  # automine: each step's transactions land at once; tests mine confirmations
        yield anvil


@pytest.fixture
def env(node: AnvilNode, pg_url: str, tmp_path: Path) -> Iterator[MintEnv]:
    wipe_postgres(pg_url)
    e = MintEnv(node, pg_url, tmp_path)
    yield e
    e.close()
    wipe_postgres(pg_url)
