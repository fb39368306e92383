"""Rate-limit counters in Redis, with concurrent increments coalesced into one pipelined round trip.

Every request of a busy API process would otherwise pay its own Redis round trip (a pipeline of INCR + EXPIRE
per bucket). Here the increments that arrive while a round trip is in flight wait for the next one, grouped by
key: n requests on one key become one `INCRBY key n`, and the i-th of them sees the count `total - n + i`, exactly
the value its own `INCR` would have returned in some order of the n. One round trip is in flight at a time, so
under load the group size grows with the load (the same idea as the group commit of actions).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis.asyncio


@dataclass
class CoalescedCounter:
    client: redis.asyncio.Redis
    _pending: dict[tuple[str, int], list[asyncio.Future[int]]] = field(default_factory=dict)
    _flushing: bool = False
    _task: asyncio.Task[None] | None = None  # the flush in progress (a reference keeps it alive)

    async def incr(self, keys: list[tuple[str, int]]) -> list[int]:
        """Increment each `(key, ttl_s)` by one; the counts this request saw, in order."""
        loop = asyncio.get_running_loop()
        futures = []
        for key in keys:
            future: asyncio.Future[int] = loop.create_future()
            self._pending.setdefault(key, []).append(future)
            futures.append(future)
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush())
        return [await future for future in futures]

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # NOTE: let the requests already runnable in this loop iteration join
            while self._pending:
                pending, self._pending = self._pending, {}
                await self._send(pending)
        finally:
            self._flushing = False

    async def _send(self, pending: dict[tuple[str, int], list[asyncio.Future[int]]]) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for (key, ttl_s), waiting in pending.items():
                pipe.incrby(key, len(waiting))
                pipe.expire(key, ttl_s)
            replies = await pipe.execute()
        except BaseException as exc:  # every waiting request sees the failure (the limiter falls back)
            for waiting in pending.values():
                for future in waiting:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for waiting, total in zip(pending.values(), replies[::2], strict=True):
            first = int(total) - len(waiting)
            for i, future in enumerate(waiting, start=1):
                if not future.done():
                    future.set_result(first + i)
