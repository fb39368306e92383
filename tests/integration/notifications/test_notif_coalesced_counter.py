"""Rate-limit counters: concurrent increments share Redis round trips, yet each request sees its own count."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio

from backend.entrypoints.api.redis_counter import CoalescedCounter


class CountingPipelines(redis.asyncio.Redis):
    round_trips = 0

    def pipeline(self, *args: object, **kwargs: object) -> redis.asyncio.client.Pipeline:  # type: ignore[override]
        type(self).round_trips += 1
        return super().pipeline(*args, **kwargs)  # type: ignore[arg-type]


def test_concurrent_increments_count_exactly_and_share_round_trips(redis_url: str, redis_prefix: str) -> None:
    key, other = f"{redis_prefix}rl:a", f"{redis_prefix}rl:b"

    async def run() -> list[list[int]]:
        client = CountingPipelines.from_url(redis_url)
        counter = CoalescedCounter(client)
        try:
            requests = [counter.incr([(key, 60)] + ([(other, 60)] if i % 2 else [])) for i in range(200)]
            return list(await asyncio.gather(*requests))
        finally:
            await client.aclose()

    seen = asyncio.run(run())
    assert sorted(counts[0] for counts in seen) == list(range(1, 201))  # each request its own INCR result
    assert sorted(counts[1] for counts in seen if len(counts) == 2) == list(range(1, 101))
    assert CountingPipelines.round_trips < 20  # not one per request
    sync = redis.Redis.from_url(redis_url)
    assert int(sync.get(key) or 0) == 200 and int(sync.get(other) or 0) == 100
    assert 0 < sync.ttl(key) <= 60
    sync.close()


def test_a_redis_failure_reaches_every_waiting_request() -> None:
    async def run() -> list[object]:
        client = redis.asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
        counter = CoalescedCounter(client)
        results = await asyncio.gather(*(counter.incr([("k", 5)]) for _ in range(5)), return_exceptions=True)
        await client.aclose()
        return list(results)

    outcomes = asyncio.run(run())
    assert len(outcomes) == 5 and all(isinstance(o, redis.ConnectionError) for o in outcomes)
