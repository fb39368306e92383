"""Rate limits per IP (anonymous), per API key and per operator, counted in Redis across API processes."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from backend.bootstrap import Container
from backend.entrypoints.api.app import create_app
from tests.support.auth import admin_headers, create_brand, key_headers

pytestmark = pytest.mark.redis


@pytest.fixture
def settings_overrides(redis_url: str, redis_prefix: str) -> dict[str, Any]:
    return {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "rate_limit_window_s": 3600,  # one window for the whole test
        "rate_limit_per_ip": 4,
        "rate_limit_per_key": 6,
    }


def test_limits_per_ip_and_per_key_shared_by_two_api_processes(
    client: TestClient, container: Container, redis_url: str, redis_prefix: str
) -> None:
    admin = admin_headers(client)  # anonymous request 1 (the login), per IP
    brand_id, key = create_brand(client, "notif-a")  # operator requests 1-2
    other_process = TestClient(create_app(container))  # its own middleware instance: only Redis is shared

    statuses = [c.get("/v1/auth/me").status_code for c in (client, other_process, client)]
    assert statuses == [401, 401, 401]  # anonymous requests 2-4
    refused = other_process.get("/v1/auth/me")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate-limited" and 0 < int(refused.headers["retry-after"]) <= 3600
    assert client.post("/v1/auth/token", data={"username": "x", "password": "y"}).status_code == 429  # no guessing
    assert client.get("/v1/auth/me", headers=key_headers("lk_999_forged")).status_code == 429  # nor forged keys

    for _ in range(6):
        assert other_process.get("/v1/auth/me", headers=key_headers(key)).status_code == 200
    assert client.get("/v1/auth/me", headers=key_headers(key)).status_code == 429
    assert client.get("/v1/auth/me", headers=admin).status_code == 200  # the operator has its own budget
    assert client.get("/health").status_code == 200  # probes are never limited

    keys = redis.Redis.from_url(redis_url).keys(redis_prefix + "rl:*")
    assert keys and all(k.decode().startswith(redis_prefix) for k in keys)
    assert brand_id


def test_without_redis_the_limit_holds_per_process(client: TestClient, container: Container) -> None:
    container.redis = None
    local = TestClient(create_app(container))
    assert [local.get("/v1/auth/me").status_code for _ in range(5)] == [401, 401, 401, 401, 429]
