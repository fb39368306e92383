"""Fuzz every operation as every kind of caller: no 5xx, responses and statuses as documented.

The admin-only run (`test_security_fuzz.py`) goes deep on both databases; this one goes wide on SQLite: each
generated request is sent once per credential kind (anonymous, admin, brand manager of A and of B, auditor,
viewer, a brand API key of each single scope, a shopper session), so a refusal path that crashes for one role
cannot hide behind another role's success. The OpenAPI has no links, so there is no stateful phase to run.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from backend.services.foundation.api_keys import KEY_SCOPES
from tests.integration.security.conftest import World
from tests.support.auth import create_api_key, key_headers

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


@pytest.fixture(scope="module")
def callers(world: World) -> dict[str, dict[str, str]]:
    """The world's callers plus one API key of brand A per single scope."""
    kinds = dict(world.callers)
    for scope in sorted(KEY_SCOPES):
        kinds[f"key_a[{scope}]"] = key_headers(create_api_key(world.client, world.brand_a, [scope]))
    assert "shopper" in kinds
    return kinds


@pytest.fixture(scope="module")
def roles_schema(world: World) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    schema.config.phases.update(phases=["examples", "fuzzing"])
    schema.config.generation.update(max_examples=3, deterministic=True)
    return schema


schema = schemathesis.pytest.from_fixture("roles_schema")


@schema.parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_as_every_caller(case: Any, callers: dict[str, dict[str, str]]) -> None:
    failures = []
    for kind, headers in callers.items():
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except Exception as exc:  # collect per caller: one report names every role that broke
            failures.append(f"{kind}: {str(exc)[:600]}")
    assert not failures, "\n".join(failures)
