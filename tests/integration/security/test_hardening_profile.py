"""Shopper preferences are bounded before they are stored; a refused update changes nothing.

Found by fuzzing: `PATCH /v1/me/profile` with deeply nested `preferences` committed, then answered 500; from then on
the profile and the GDPR export of the wallet answered 500 until the shopper overwrote them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.adapters.chain.client import ChainClient
from backend.bootstrap import provision
from backend.domain import preferences as prefs
from backend.entrypoints.api.app import create_app
from backend.entrypoints.api.shopper_auth import issue_session
from backend.services.foundation.deployment import PlatformContracts
from tests.conftest import make_settings, use_template
from tests.integration.security.conftest import World

WALLET = to_checksum_address("0x" + "5a" * 20)


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


HOSTILE: dict[str, Any] = {
    "50 levels": _nested(50),
    "one level too deep": _nested(prefs.MAX_DEPTH + 1),
    "deep list": {"a": [[[[["x"]]]]]},
    "long string": {"a": "x" * (prefs.MAX_STRING_CHARS + 1)},
    "long key": {"k" * (prefs.MAX_KEY_CHARS + 1): 1},
    "empty key": {"": 1},
    "many keys": {f"k{i}": i for i in range(prefs.MAX_ITEMS + 1)},
    "huge integer": {"a": 10**40},
    "too many bytes": {f"k{i}": [f"{i}" + "x" * 400] * 3 for i in range(10)},
}


@pytest.fixture
def shopper(world: World) -> dict[str, str]:
    token, _ = issue_session(world.container, WALLET, world.container.chain.chain_id)
    return {"Authorization": f"Bearer {token}"}


def test_a_bounded_profile_round_trips(world: World, shopper: dict[str, str]) -> None:
    client: TestClient = world.client
    good = {"language": "fr", "stores": [{"id": 3, "favourite": True}], "volume": 0.5, "none": None}
    assert prefs.check_preferences(_nested(prefs.MAX_DEPTH))
    response = client.patch("/v1/me/profile", json={"preferences": good}, headers=shopper)
    assert response.status_code == 200, response.text
    assert response.json()["preferences"] == good


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_out_of_bounds_preferences_are_refused_and_change_nothing(
    world: World, shopper: dict[str, str], name: str
) -> None:
    client: TestClient = world.client
    before = {"language": "de"}
    assert client.patch("/v1/me/profile", json={"preferences": before}, headers=shopper).status_code == 200
    refused = client.patch(
        "/v1/me/profile", json={"preferences": HOSTILE[name], "email": "new@example.com"}, headers=shopper
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid-input"
    profile = client.get("/v1/me/profile", headers=shopper)
    assert profile.status_code == 200, profile.text
    assert profile.json()["preferences"] == before
    assert profile.json()["email"] != "new@example.com"
    export = client.get("/v1/gdpr/export", params={"wallet": WALLET}, headers=shopper)
    assert export.status_code == 200, export.text
    assert export.json()["tables"]["shoppers"][0]["preferences"] == before


@pytest.fixture
def pg_and_sqlite_client(
    db_url: str, tmp_path: Path, shared_chain: tuple[ChainClient, PlatformContracts], sqlite_template: Path
) -> Iterator[TestClient]:
    use_template(db_url, sqlite_template)
    chain, contracts = shared_chain
    container = provision(make_settings(db_url, tmp_path), chain=chain, with_contracts=False)
    container.contracts = contracts
    yield TestClient(create_app(container))
    container.close()


def test_a_refused_update_commits_nothing_on_either_database(pg_and_sqlite_client: TestClient) -> None:
    client = pg_and_sqlite_client
    container = client.app.state.container  # type: ignore[attr-defined]
    token, _ = issue_session(container, WALLET, container.chain.chain_id)
    headers = {"Authorization": f"Bearer {token}"}
    refused = client.patch(
        "/v1/me/profile", json={"email": "first@example.com", "preferences": _nested(40)}, headers=headers
    )
    assert refused.status_code == 422, refused.text
    with container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM shoppers")).scalar_one() == 0
    assert client.get("/v1/me/profile", headers=headers).json()["preferences"] == {}


def test_preferences_stored_before_the_bounds_do_not_break_the_profile_or_the_export(
    world: World, shopper: dict[str, str]
) -> None:
    """A database that took a deep document before this fix: the profile and the export answer, the next update
    replaces it."""
    client: TestClient = world.client
    assert client.patch("/v1/me/profile", json={"preferences": {}}, headers=shopper).status_code == 200
    poisoned = json.dumps(_nested(1_000))
    with world.container.engine.begin() as conn:
        conn.execute(text("UPDATE shoppers SET preferences = :p WHERE wallet = :w"), {"p": poisoned, "w": WALLET})
    profile = client.get("/v1/me/profile", headers=shopper)
    assert profile.status_code == 200, profile.text
    assert profile.json()["preferences"] == {}
    export = client.get("/v1/gdpr/export", params={"wallet": WALLET}, headers=shopper)
    assert export.status_code == 200, export.text
    assert export.json()["tables"]["shoppers"][0]["preferences"] == poisoned
    replaced = client.patch("/v1/me/profile", json={"preferences": {"language": "it"}}, headers=shopper)
    assert replaced.status_code == 200 and replaced.json()["preferences"] == {"language": "it"}
