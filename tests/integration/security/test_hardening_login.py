"""Password guessing on `POST /v1/auth/token` is throttled per (account, IP), account and IP, whatever the headers."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient

from backend.adapters.cache import KeyedRedis
from backend.services.foundation.login_throttle import LoginThrottle, ThrottlePolicy
from tests.integration.security.conftest import PASSWORD, World

ACCOUNT = "auditor@example.com"  # an operator of the `world` fixture
CAP = 900
_ips = count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def clock(request: pytest.FixtureRequest, world: World) -> Iterator[Clock]:
    """A fresh throttle (in process or in the real Redis) with a clock the test moves."""
    fake = Clock()
    keyed = None
    if request.param == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        keyed = KeyedRedis(redis_lib.Redis.from_url(url), prefix)
    world.container.login_throttle = LoginThrottle(keyed, ThrottlePolicy(5, 20, CAP), fake)
    yield fake
    del world.container.login_throttle
    if keyed is not None:
        keyed.client.close()


def _client(world: World) -> TestClient:
    """A client from a new IP address."""
    n = next(_ips)
    return TestClient(world.client.app, client=(f"10.{n // 250}.{n % 250}.1", 40000))


def _login(client: TestClient, password: str, headers: dict[str, str] | None = None, account: str = ACCOUNT) -> int:
    response = client.post("/v1/auth/token", data={"username": account, "password": password}, headers=headers)
    if response.status_code == 429:
        assert response.json()["code"] == "login-throttled"
        assert int(response.headers["Retry-After"]) >= 1
    return response.status_code


def test_guessing_with_a_shopper_session_attached_is_throttled(world: World, clock: Clock) -> None:
    client, shopper = _client(world), world.callers["shopper"]
    assert [_login(client, f"guess-{i}", shopper) for i in range(5)] == [401] * 5
    response = client.post("/v1/auth/token", data={"username": ACCOUNT, "password": "guess-6"}, headers=shopper)
    assert response.status_code == 429
    assert response.json()["code"] == "login-throttled"
    assert response.headers["Retry-After"] == "1"
    # refused before the password is checked: even the right one gets no answer during the delay
    assert _login(client, PASSWORD, shopper) == 429


def test_the_delay_doubles_is_capped_and_a_correct_password_after_it_resets(world: World, clock: Clock) -> None:
    client = _client(world)
    retries = []
    for i in range(20):
        assert _login(client, f"guess-{i}") == 401
        response = client.post("/v1/auth/token", data={"username": ACCOUNT, "password": "again"})
        if response.status_code == 429:
            retries.append(int(response.headers["Retry-After"]))
            clock.now += int(response.headers["Retry-After"])
    assert retries == [min(2**k, CAP) for k in range(18)]  # 1, 2, 4 … 512, then 900 s at most
    assert _login(client, PASSWORD) == 200
    # the account's count started again (this IP's own count of 38 failures stays: only a wait clears it)
    assert [_login(_client(world), f"after-{i}") for i in range(5)] == [401] * 5
    assert _login(client, "after") == 429


def test_guessing_from_many_ips_is_throttled_per_account(world: World, clock: Clock) -> None:
    assert [_login(_client(world), f"spread-{i}") for i in range(5)] == [401] * 5
    assert _login(_client(world), "spread-6") == 429
    assert _login(_client(world), PASSWORD, account="viewer@example.com") == 200  # other accounts are unaffected


def test_the_real_operator_from_another_ip_waits_at_most_the_cap(world: World, clock: Clock) -> None:
    attacker = _client(world)
    for i in range(40):  # the attacker keeps the account-wide delay at its cap from ever-new IPs
        clock.now += CAP
        assert _login(attacker if i < 20 else _client(world), f"spray-{i}") == 401
    operator = _client(world)
    response = operator.post("/v1/auth/token", data={"username": ACCOUNT, "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) <= CAP
    clock.now += 10
    assert _login(_client(world), "spray-late") == 429  # still refused to the sprayer
    clock.now += CAP - 10
    assert _login(operator, PASSWORD) == 200


def test_guessing_from_one_ip_is_throttled_across_accounts(world: World, clock: Clock) -> None:
    client = _client(world)
    for i in range(20):
        assert _login(client, "wrong", account=f"nobody-{i}@example.com") == 401
    assert _login(client, "wrong", account="nobody-20@example.com") == 429
