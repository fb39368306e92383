"""Group commit for single actions: concurrent `POST /v1/actions` requests share one transaction.

Each request awaits its own result; a flush takes whatever queued up while the previous flush was writing (at
most `max_items`), records it with `record_actions` per brand in one transaction and answers every request only
after the commit, so durability is that of one request per transaction. Per-item business errors stay per item.
If the shared transaction fails as a whole (a race on an idempotency key or order with another process, a
deadlock, SQLite busy, a budget that changed under us), every request of the flush is retried on its own, exactly
as it would have run without batching.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.races import retry_on_race
from backend.domain.actions import ActionIn
from backend.errors import LoyaltyError
from backend.services.earning.actions.recorder import record_actions
from backend.services.earning.actions.results import ActionError, ActionResult

ATTEMPTS = 3  # a request that lost a race is retried from scratch this many times in all
Outcome = ActionResult | Exception  # a LoyaltyError becomes that request's problem response


@dataclass
class _Queued:
    brand_id: int
    action: ActionIn
    future: asyncio.Future[Outcome]


@dataclass
class ActionBatcher:
    """One per API process (and event loop); `await submit(...)` returns the request's result or error."""

    sessions: sessionmaker[Session]
    max_items: int = 200
    writers: int = 2  # flushes in flight: one evaluates in Python while the other waits on the database
    _loop: asyncio.AbstractEventLoop | None = None
    _queue: asyncio.Queue[_Queued] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def submit(self, brand_id: int, action: ActionIn) -> ActionResult:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None:
            self._start(loop)
        assert self._queue is not None
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put_nowait(_Queued(brand_id, action, future))
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        # NOTE: test clients run each app in a fresh event loop; queues and tasks belong to one loop.
        self._loop, self._queue = loop, asyncio.Queue()
        self._tasks = [loop.create_task(self._writer()) for _ in range(self.writers)]

    async def _writer(self) -> None:
        queue = self._queue
        assert queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_items and not queue.empty():
                batch.append(queue.get_nowait())
            outcomes = await loop.run_in_executor(None, self._write, batch)
            for item, outcome in zip(batch, outcomes, strict=True):
                if not item.future.done():  # the client may have gone away
                    item.future.set_result(outcome)

    def _write(self, batch: list[_Queued]) -> list[Outcome]:
        try:
            return self._write_together(batch)
        except Exception:  # whatever failed the flush as a whole is retried (or reported) per request
            return [self._alone_or_error(item) for item in batch]

    def _alone_or_error(self, item: _Queued) -> Outcome:
        try:
            return self._write_alone(item)
        except Exception as exc:  # a bug, or a race lost every time: this request's 500
            return exc

    def _write_together(self, batch: list[_Queued]) -> list[Outcome]:
        by_brand: dict[int, list[int]] = defaultdict(list)
        for i, item in enumerate(batch):
            by_brand[item.brand_id].append(i)
        outcomes: list[Outcome | None] = [None] * len(batch)
        with self.sessions() as session:
            for brand_id, indexes in sorted(by_brand.items()):
                results = record_actions(session, brand_id, [batch[i].action for i in indexes])
                for i, result in zip(indexes, results, strict=True):
                    outcomes[i] = result.error if isinstance(result, ActionError) else result
            session.commit()
        return outcomes  # type: ignore[return-value]

    def _write_alone(self, item: _Queued) -> Outcome:
        def once() -> Outcome:
            with self.sessions() as session:
                try:
                    (result,) = record_actions(session, item.brand_id, [item.action])
                    session.commit()
                except LoyaltyError as exc:
                    return exc
            return result.error if isinstance(result, ActionError) else result

        return retry_on_race(once, ATTEMPTS)
