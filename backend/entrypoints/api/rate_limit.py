"""ASGI middleware: per API key, per operator, per shopper wallet and per client IP request limits (429).

Who is counted: a valid brand API key counts against `LOYALTY_RATE_LIMIT_PER_KEY` (its key id), a valid operator
JWT too (its subject), a shopper session against `LOYALTY_RATE_LIMIT_PER_WALLET`; everything else (no or invalid
credentials) against `LOYALTY_RATE_LIMIT_PER_IP`, so guessing keys or passwords is limited per IP. Requests that
name a wallet in `/v1/wallets/{address}/...` without credentials also count against that wallet, and so do a QR
claim and a SIWE sign-in once their code or signature checks out
(`backend.services.foundation.rate_limit.admit_wallet`).
A refused request gets a `rate-limited` problem with `Retry-After`. A limit of 0 disables that counter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

import jwt
import redis
import redis.asyncio
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.bootstrap import Container
from backend.entrypoints.api.auth import JWT_ALGORITHM, jwt_signing_key
from backend.entrypoints.api.problems import PROBLEM_JSON, database_unavailable
from backend.entrypoints.api.redis_counter import CoalescedCounter
from backend.services.foundation.rate_limit import Decision, RateLimiter, wallet_bucket

EXEMPT_PATHS = frozenset({"/health", "/metrics"})
VERIFIED_KEY_STATE = "verified_api_key"  # (raw key, VerifiedKey) in `request.state`: auth need not verify again
log = logging.getLogger("loyalty.rate_limit")


def client_ip(scope: Scope, headers: dict[str, str], *, trust_forwarded: bool) -> str:
    """The client's IP: the socket peer, or the last X-Forwarded-For hop behind a trusted proxy."""
    if trust_forwarded and headers.get("x-forwarded-for"):
        # NOTE: the last hop was added by our own proxy; the ones before it are whatever the client sent.
        return headers["x-forwarded-for"].split(",")[-1].strip()
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def presented_credential(headers: dict[str, str]) -> str:
    """The API key (`X-API-Key`) or bearer token the request carries, or ""."""
    token = headers.get("x-api-key", "").strip()
    if not token:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    return token


def _decoded_headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, container: Container) -> None:
        self.app = app
        self.container = container
        settings = container.settings
        self.limiter = RateLimiter(container.redis, settings.rate_limit_window_s)
        self.settings = settings
        self._counters: tuple[asyncio.AbstractEventLoop, CoalescedCounter] | None = None

    def _buckets(self, scope: Scope, headers: dict[str, str] | None = None) -> list[tuple[str, int]]:
        settings = self.settings
        headers = _decoded_headers(scope) if headers is None else headers
        token = presented_credential(headers)
        buckets: list[tuple[str, int]] = []
        if token.startswith("lk_"):
            verified = self.container.api_key_cache.verify(token)
            if verified is not None:
                scope.setdefault("state", {})[VERIFIED_KEY_STATE] = (token, verified)
                return [(f"key:{verified.key_id}", settings.rate_limit_per_key)]
        elif token:
            try:
                claims = jwt.decode(token, jwt_signing_key(self.container), algorithms=[JWT_ALGORITHM])
            except jwt.PyJWTError:
                claims = None
            if claims is not None and claims.get("role") == "shopper":
                return [(wallet_bucket(str(claims.get("sub", ""))), settings.rate_limit_per_wallet)]
            if claims is not None:
                return [(f"user:{claims.get('sub')}", settings.rate_limit_per_key)]
        buckets.append((f"ip:{self._client_ip(scope, headers)}", settings.rate_limit_per_ip))
        path: str = scope.get("path", "")
        if path.startswith("/v1/wallets/"):
            buckets.append((wallet_bucket(path.split("/")[3]), settings.rate_limit_per_wallet))
        return buckets

    def _client_ip(self, scope: Scope, headers: dict[str, str]) -> str:
        return client_ip(scope, headers, trust_forwarded=self.settings.rate_limit_trust_forwarded)

    def check(
        self, scope: Scope, buckets: list[tuple[str, int]] | None = None, *, use_memory: bool = False
    ) -> Decision | None:
        """The first refusal among the caller's buckets, or None when allowed."""
        for bucket, limit in self._buckets(scope) if buckets is None else buckets:
            if limit <= 0:
                continue
            if use_memory:
                now, window_s = time.time(), self.limiter.window_s
                window = int(now // window_s)
                if self.limiter.memory.incr(bucket, window) > limit:
                    return Decision(False, limit, 0, max(1, math.ceil((window + 1) * window_s - now)))
                continue
            decision = self.limiter.hit(bucket, limit)
            if not decision.allowed:
                return decision
        return None

    async def check_async(self, scope: Scope) -> Decision | None:
        """`check` without a thread hop: key verification is cached in process, Redis is asked asynchronously.

        NOTE: the caller's buckets, and those of every request arriving meanwhile, go in one round trip. A key
        whose cache entry is stale is looked up in the database off the event loop.
        """
        headers = _decoded_headers(scope)
        raw = presented_credential(headers)
        if raw.startswith("lk_") and not self.container.api_key_cache.answers_from_memory(raw):
            found = await run_in_threadpool(self._buckets, scope, headers)
        else:
            found = self._buckets(scope, headers)
        buckets = [(bucket, limit) for bucket, limit in found if limit > 0]
        if not buckets:
            return None
        if self.container.redis is None:
            return self.check(scope, buckets)  # in-process counters: cheap, no I/O
        counter = self._counter()
        if counter is None:
            return await run_in_threadpool(self.check, scope, buckets)
        window_s = self.limiter.window_s
        now = time.time()
        window = int(now // window_s)
        assert self.container.redis is not None
        keys = [(self.container.redis.key("rl", bucket, window), window_s + 1) for bucket, _ in buckets]
        try:
            counts = await counter.incr(keys)
        except (redis.RedisError, OSError) as exc:
            log.warning("rate limiter: Redis unavailable (%s); counting in process", exc)
            return self.check(scope, buckets, use_memory=True)
        retry_after = max(1, math.ceil((window + 1) * window_s - now))
        for (_, limit), count in zip(buckets, counts, strict=True):
            if count > limit:
                return Decision(False, limit, 0, retry_after)
        return None

    def _counter(self) -> CoalescedCounter | None:
        """Counters on an asyncio client to the same server as the container's (one per event loop)."""
        keyed = self.container.redis
        if keyed is None:
            return None
        loop = asyncio.get_running_loop()
        if self._counters is None or self._counters[0] is not loop:
            try:
                client = redis.asyncio.Redis(**keyed.client.connection_pool.connection_kwargs)
            except TypeError:  # a connection option the asyncio client lacks: keep the sync client
                return None
            self._counters = (loop, CoalescedCounter(client))
        return self._counters[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            refused = await self.check_async(scope)
        except (OperationalError, InterfaceError) as exc:
            # NOTE: this middleware runs outside the app's exception handlers: a lost database while verifying
            # a key is answered here as the handlers would (503 + Retry-After), never as a bare 500.
            response = await database_unavailable(Request(scope), exc)
            await response(scope, receive, send)
            return
        if refused is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "type": "https://loyalty.dev/problems/rate-limited",
                "title": "Too many requests",
                "status": 429,
                "detail": f"limit of {refused.limit} requests per {self.settings.rate_limit_window_s}s reached",
                "code": "rate-limited",
                "instance": scope.get("path", ""),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"retry-after", str(refused.retry_after_s).encode()),
                    (b"ratelimit-limit", str(refused.limit).encode()),
                    (b"ratelimit-remaining", b"0"),
                    (b"ratelimit-reset", str(refused.retry_after_s).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
