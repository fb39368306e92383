"""The live feed: platform events streamed to WebSocket subscribers as they are committed.

One `FeedHub` per process polls `platform_events` every `LOYALTY_FEED_POLL_S` (one query for all its
subscribers, whatever their number) and hands each event to the subscribers allowed to see its brand. Reading
the table, not process memory, is what makes events written by any API process, worker or runner reach every
subscriber of every process.

NOTE: ids come from a sequence, but transactions commit in any order: id 41 may appear after 42 was read.
`FeedCursor` therefore remembers the holes below what it has seen and asks for them again until they appear
or `GAP_TTL_S` passes (a rolled-back transaction leaves a permanent hole).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.db import UnitOfWork
from backend.adapters.orm.notifications import PlatformEvent

log = logging.getLogger("loyalty.feed")
GAP_TTL_S = 10.0
MAX_GAPS = 1000
BATCH = 500
QUEUE_SIZE = 1000


class FeedCursor:
    """Which event ids to read next and which of them are new; no event is emitted twice or skipped."""

    def __init__(self, after: int) -> None:
        self.floor = after  # every id <= floor was emitted or given up on
        self.high = after  # highest id emitted
        self.seen: set[int] = set()  # emitted ids above floor
        self.gaps: dict[int, float] = {}  # missing id -> when first missed (monotonic seconds)

    def accept(self, ids: list[int], now: float) -> list[int]:
        """Of `ids` just read, those to emit (in id order); updates the holes."""
        fresh = sorted(i for i in set(ids) if i > self.floor and i not in self.seen)
        self.seen.update(fresh)
        for i in fresh:
            self.gaps.pop(i, None)
        if fresh and fresh[-1] > self.high:
            for missing in range(self.high + 1, fresh[-1]):
                if missing not in self.seen and len(self.gaps) < MAX_GAPS:
                    self.gaps.setdefault(missing, now)
            self.high = fresh[-1]
        while self.floor < self.high:
            nxt = self.floor + 1
            if nxt in self.seen:
                self.seen.discard(nxt)
            elif nxt in self.gaps and now - self.gaps[nxt] >= GAP_TTL_S:
                del self.gaps[nxt]
            elif nxt not in self.gaps:
                pass  # beyond MAX_GAPS: given up at once
            else:
                break
            self.floor = nxt
        return fresh


@dataclass(frozen=True)
class FeedEvent:
    id: int
    brand_id: int
    type: str
    created_at: str
    data: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "brand_id": self.brand_id,
            "created_at": self.created_at,
            "data": self.data,
        }


def _event(row: PlatformEvent) -> FeedEvent:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return FeedEvent(row.id, row.brand_id, row.type, created.isoformat(), row.payload)


def read_events(
    session: Session, *, above: int, ids: list[int] | None = None, brand_id: int | None = None, upto: int | None = None
) -> list[FeedEvent]:
    query = select(PlatformEvent)
    query = query.where(PlatformEvent.id.in_(ids) if ids is not None else PlatformEvent.id > above)
    if upto is not None:
        query = query.where(PlatformEvent.id <= upto)
    if brand_id is not None:
        query = query.where(PlatformEvent.brand_id == brand_id)
    return [_event(r) for r in session.scalars(query.order_by(PlatformEvent.id).limit(BATCH))]


def last_event_id(session: Session) -> int:
    return int(session.scalar(select(func.max(PlatformEvent.id))) or 0)


@dataclass
class Subscription:
    brand_id: int | None  # None: every brand (admins)
    deliver: Callable[[FeedEvent | None], None]  # None = overflowed, the connection should close
    start: int = 0  # the hub's position when it subscribed: backlog (after..start) is the caller's job
    closed: bool = False


@dataclass
class FeedHub:
    sessions: sessionmaker[Session]
    poll_s: float
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _thread: threading.Thread | None = None
    _cursor: FeedCursor | None = None

    def subscribe(self, brand_id: int | None, deliver: Callable[[FeedEvent | None], None]) -> tuple[int, Subscription]:
        with self._lock:
            if self._cursor is None:
                with UnitOfWork(self.sessions) as uow:
                    self._cursor = FeedCursor(last_event_id(uow.session))
            sub = Subscription(brand_id, deliver, start=self._cursor.high)
            token = next(self._ids)
            self.subscriptions[token] = sub
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="loyalty-feed", daemon=True)
                self._thread.start()
            return token, sub

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self.subscriptions.pop(token, None)

    def poll_once(self) -> int:
        cursor = self._cursor
        assert cursor is not None
        with UnitOfWork(self.sessions) as uow:
            rows = read_events(uow.session, above=cursor.high)
            if cursor.gaps:
                rows += read_events(uow.session, above=0, ids=sorted(cursor.gaps)[:BATCH])
        by_id = {e.id: e for e in rows}
        fresh = cursor.accept(list(by_id), time.monotonic())
        with self._lock:
            subs = list(self.subscriptions.values())
        for event_id in fresh:
            event = by_id[event_id]
            for sub in subs:
                if not sub.closed and (sub.brand_id is None or sub.brand_id == event.brand_id):
                    sub.deliver(event)
        return len(fresh)

    def _run(self) -> None:
        interval = self.poll_s
        while True:
            with self._lock:
                if not self.subscriptions:
                    self._thread = None
                    self._cursor = None  # a later subscriber starts from the then-newest event
                    return
            try:
                if self.poll_once() >= BATCH:
                    continue
            except Exception:
                log.exception("feed poll failed; retrying")
            time.sleep(interval)


def queue_deliverer(
    loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[FeedEvent | None]
) -> Callable[[FeedEvent | None], None]:
    """Hand events from the hub thread to one connection's asyncio queue (None when it overflows)."""

    def put(event: FeedEvent | None) -> None:
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            queue._queue.clear()  # type: ignore[attr-defined]  # NOTE: a client this far behind must resume
            queue.put_nowait(None)

    def deliver(event: FeedEvent | None) -> None:
        with contextlib.suppress(RuntimeError):  # the connection's loop is gone
            loop.call_soon_threadsafe(put, event)

    return deliver
