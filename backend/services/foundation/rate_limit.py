"""Fixed-window request counters per caller: Redis (shared by every API process) or, without Redis, in process.

`RateLimiter.hit(bucket, limit)` counts one request in the current window of `LOYALTY_RATE_LIMIT_WINDOW_S`
seconds and says whether it is allowed and, if not, how many seconds until the window ends. Redis keys carry
the deployment's prefix and expire with their window. If Redis fails, counting falls back to this process
(fail open, but still bounded) rather than refusing every request.

`admit_wallet(limiter, limit, wallet)` is the per-wallet check of the steps a wallet takes without a session (a QR
claim, a SIWE sign-in): the same `wallet:` bucket the API middleware counts a shopper session's requests in.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import redis

from backend.adapters.cache import KeyedRedis
from backend.errors import RateLimited

log = logging.getLogger("loyalty.rate_limit")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # seconds until the window resets (≥ 1)


class MemoryCounters:
    """Per-process counters for deployments without Redis (the embedded default)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._window = -1

    def incr(self, bucket: str, window: int) -> int:
        with self._lock:
            if window != self._window:  # a new window: forget the old one's counters
                self._counts.clear()
                self._window = window
            count = self._counts.get(bucket, 0) + 1
            self._counts[bucket] = count
            return count


class RateLimiter:
    def __init__(self, redis_client: KeyedRedis | None, window_s: int) -> None:
        self.redis = redis_client
        self.window_s = window_s
        self.memory = MemoryCounters()

    def _incr(self, bucket: str, window: int) -> int:
        if self.redis is not None:
            key = self.redis.key("rl", bucket, window)
            try:
                pipe = self.redis.client.pipeline(transaction=False)
                pipe.incr(key)
                pipe.expire(key, self.window_s + 1)
                count, _ = pipe.execute()
                return int(count)
            except redis.RedisError as exc:
                log.warning("rate limiter: Redis unavailable (%s); counting in process", exc)
        return self.memory.incr(bucket, window)

    def hit(self, bucket: str, limit: int, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        count = self._incr(bucket, window)
        retry_after = max(1, math.ceil((window + 1) * self.window_s - now))
        return Decision(count <= limit, limit, max(0, limit - count), retry_after)


def wallet_bucket(wallet: str) -> str:
    """The counter of one wallet (any address spelling counts against the same bucket)."""
    return f"wallet:{wallet.lower()[:42]}"


def refusal(decision: Decision, window_s: int) -> RateLimited:
    """The 429 problem of a refused decision, with `Retry-After` and the RateLimit headers."""
    headers = {
        "Retry-After": decision.retry_after_s,
        "RateLimit-Limit": decision.limit,
        "RateLimit-Remaining": 0,
        "RateLimit-Reset": decision.retry_after_s,
    }
    return RateLimited(f"limit of {decision.limit} requests per {window_s}s reached", headers=headers)


def admit_wallet(limiter: RateLimiter, limit: int, wallet: str) -> None:
    """Count one step of `wallet` against `LOYALTY_RATE_LIMIT_PER_WALLET`; `RateLimited` (429) past the limit."""
    if limit <= 0:
        return
    decision = limiter.hit(wallet_bucket(wallet), limit)
    if not decision.allowed:
        raise refusal(decision, limiter.window_s)
