"""Redis connection with a per-deployment key prefix (tests use a prefix per run so runs never collide)."""

from __future__ import annotations

from typing import Any

import redis


class KeyedRedis:
    """A Redis client plus the key prefix every caller must use."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, *parts: Any) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


def connect_redis(url: str, prefix: str) -> KeyedRedis | None:
    if not url:
        return None
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)
    return KeyedRedis(client, prefix)
