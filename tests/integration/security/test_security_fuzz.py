"""Fuzz the public API from its own OpenAPI schema (schemathesis) as an admin: no 5xx, responses as documented.

Bounded for the normal test run: 10 derandomized examples per operation (examples + fuzzing phases), one
in-process platform per database (SQLite, PostgreSQL) for the whole module. Checks: no server error, response
body matches its schema, content type as documented. (Status codes are not checked against the schema: FastAPI
documents only 200/422, while routes answer RFC 9457 problems with 401/403/404/409 on purpose.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from backend.bootstrap import provision
from backend.entrypoints.api.app import create_app
from tests.conftest import make_settings, wipe_postgres
from tests.support.auth import admin_headers, create_brand


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, str]]]:
    """The embedded default's SQLite and the production PostgreSQL: both must answer every request in schema."""
    tmp = tmp_path_factory.mktemp("fuzz")
    db_url = f"sqlite:///{tmp / 'fuzz.db'}"
    if request.param == "postgres":
        db_url = request.getfixturevalue("pg_url")
        wipe_postgres(db_url)
    container = provision(make_settings(db_url, tmp, rate_limit_per_ip=0))
    app = create_app(container)
    from fastapi.testclient import TestClient

    client = TestClient(app)
    headers = admin_headers(client)
    create_brand(client, "fuzz-a")  # brand 1 exists, so ids hit real rows sometimes
    yield app, headers
    container.webhook_dispatcher.close()
    container.close()
    if request.param == "postgres":
        wipe_postgres(db_url)


@pytest.fixture(scope="module")
def api_schema(fuzz_target: tuple[Any, dict[str, str]]) -> Any:
    app, _ = fuzz_target
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.phases.update(phases=["examples", "fuzzing"])
    schema.config.generation.update(max_examples=10, deterministic=True)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
def test_api_conforms_and_never_fails(case: Any, fuzz_target: tuple[Any, dict[str, str]]) -> None:
    _, headers = fuzz_target
    case.call_and_validate(
        headers=headers, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
    )
