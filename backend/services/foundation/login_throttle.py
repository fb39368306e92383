"""Failed operator logins counted per (account, IP), per account and per IP, with a capped exponential delay.

After `free` failures of a counter, the next attempt waits 2^(n - free) s (at most `cap_s`) from that counter's
last attempt. Refused attempts are not counted and never reach the password hash (argon2 is expensive). The
account-wide delay is bounded per client: an (account, IP) pair refused by it waits at most `cap_s` from its
first refusal, so failures from other IPs slow the real operator down but can never lock them out. A success
clears the pair and the account. State lives in Redis (a WATCH/MULTI transaction, keys under the deployment's
prefix) or, without Redis (or if it fails), in this process.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from backend.adapters.cache import KeyedRedis
from backend.errors import RateLimited

log = logging.getLogger("loyalty.login_throttle")
State = dict[str, float]  # n (failures), last (last attempt), since (first refusal by the account-wide delay)
MEMORY_MAX_KEYS = 100_000


class LoginThrottled(RateLimited):
    code = "login-throttled"
    title = "Too many failed logins"


@dataclass(frozen=True)
class ThrottlePolicy:
    free_per_account: int = 5
    free_per_ip: int = 20
    cap_s: int = 900
    ttl_s: int = 86_400  # a counter is forgotten a day after its last attempt


def _delay(n: float, free: int, cap_s: int) -> float:
    return 0.0 if n < free else float(min(2 ** min(n - free, 32), cap_s))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(
        self, redis_client: KeyedRedis | None, policy: ThrottlePolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis_client
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()
        self._memory: dict[str, State] = {}

    def _keys(self, account: str, ip: str) -> tuple[str, str, str]:
        account_id, ip_id = _digest(account.strip().lower()), _digest(ip)
        parts = (("pair", account_id, ip_id), ("account", account_id), ("ip", ip_id))
        if self.redis is not None:
            return tuple(self.redis.key("login", *p) for p in parts)  # type: ignore[return-value]
        return tuple(":".join(p) for p in parts)  # type: ignore[return-value]

    def _admit(self, states: list[State], now: float) -> float:
        """Seconds to wait (0: admitted); updates `states` in place (claims the attempt or marks the refusal)."""
        p = self.policy
        pair, account, ip = states
        waits = [
            _delay(pair.get("n", 0), p.free_per_account, p.cap_s) - (now - pair.get("last", 0)),
            _delay(ip.get("n", 0), p.free_per_ip, p.cap_s) - (now - ip.get("last", 0)),
        ]
        account_wait = _delay(account.get("n", 0), p.free_per_account, p.cap_s) - (now - account.get("last", 0))
        if account_wait > 0:
            since = pair.setdefault("since", now)
            account_wait = min(account_wait, since + p.cap_s - now)  # NOTE: bounded per client, never forever
        wait = max([*waits, account_wait, 0.0])
        if wait <= 0:
            pair.pop("since", None)
            for state in states:  # NOTE: concurrent guesses past the free ones wait for each other
                if state.get("n", 0) > 0:
                    state["last"] = now
        return wait

    def check(self, account: str, ip: str) -> None:
        """Admit one login attempt or raise `LoginThrottled` (429 with `Retry-After`)."""
        now = self.clock()
        wait = self._update(self._keys(account, ip), lambda states: self._admit(states, now))
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise LoginThrottled(f"too many failed logins; retry in {retry}s", headers={"Retry-After": retry})

    def failed(self, account: str, ip: str) -> None:
        now = self.clock()

        def count(states: list[State]) -> float:
            for state in states:
                state["n"] = state.get("n", 0) + 1
                state["last"] = now
            return 0.0

        self._update(self._keys(account, ip), count)

    def succeeded(self, account: str, ip: str) -> None:
        def reset(states: list[State]) -> float:
            states[0].clear()
            states[1].clear()
            return 0.0

        self._update(self._keys(account, ip), reset)

    def _update(self, keys: tuple[str, ...], change: Callable[[list[State]], float]) -> float:
        if self.redis is not None:
            try:
                return self._update_redis(self.redis.client, keys, change)
            except redis.RedisError as exc:
                log.warning("login throttle: Redis unavailable (%s); counting in process", exc)
        with self._lock:
            if len(self._memory) > MEMORY_MAX_KEYS:
                horizon = self.clock() - self.policy.ttl_s
                self._memory = {k: s for k, s in self._memory.items() if s.get("last", 0) > horizon}
            states = [dict(self._memory.get(key, {})) for key in keys]
            result = change(states)
            for key, state in zip(keys, states, strict=True):
                if state:
                    self._memory[key] = state
                else:
                    self._memory.pop(key, None)
            return result

    def _update_redis(
        self, client: redis.Redis, keys: tuple[str, ...], change: Callable[[list[State]], float]
    ) -> float:
        result = 0.0

        def transaction(pipe: redis.client.Pipeline) -> None:
            nonlocal result
            raw: list[dict[bytes, bytes]] = [pipe.hgetall(key) for key in keys]  # type: ignore[misc]
            states = [{k.decode(): float(v) for k, v in r.items()} for r in raw]
            before = [dict(s) for s in states]
            result = change(states)
            pipe.multi()
            for key, old, new in zip(keys, before, states, strict=True):
                if new == old:
                    continue
                pipe.delete(key)
                if new:
                    fields: dict[str | bytes, bytes | float | int | str] = {k: v for k, v in new.items()}
                    pipe.hset(key, mapping=fields)
                    pipe.expire(key, self.policy.ttl_s)

        client.transaction(transaction, *keys)
        return result
