"""The loop: backfill finalized ranges in bulk, then tail unfinalized blocks one hash at a time.

Each `step()` mirrors one range and commits it with the cursor. Below the finalized block (the node's
`finalized` tag, else head − LOYALTY_REORG_DEPTH) ranges are fetched by number, adaptively sized, with the next
range prefetched while the current one is written. Above it every block is fetched by hash and must extend the
stored chain (parent hash); a mismatch walks back to the common ancestor and rewinds the mirror.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from indexer.decode import FACTORY_TOPICS, TOKEN_TOPICS, Decoded, decode_logs
from indexer.fetch.blocks import BlockHeader, HeaderFetcher
from indexer.fetch.logs import LogFetcher
from indexer.fetch.rpc import RetryPolicy, Transport
from indexer.reorg import ReorgDetector
from indexer.store.base import Batch, Cursor, CursorMoved, MirrorStore

log = logging.getLogger("loyalty.indexer")
ALL_TOPICS = [[*TOKEN_TOPICS, *FACTORY_TOPICS]]
TOKEN_ONLY = [TOKEN_TOPICS]
LIVE_BATCH = 64  # unfinalized blocks fetched per step (headers + logs by hash, one JSON-RPC batch each)


@dataclass
class Fetched:
    start: int
    end: int
    decoded: Decoded
    start_header: BlockHeader
    end_header: BlockHeader


@dataclass
class StreamerStats:
    head: int = 0
    safe: int = 0
    cursor: int = -1
    events: int = 0
    batches: int = 0
    reorgs: int = 0
    rewound_events: int = 0
    rejected: int = 0
    fetch_s: float = 0.0  # time spent fetching + decoding (in the prefetch thread during backfill)
    write_s: float = 0.0  # time spent in database transactions
    wait_s: float = 0.0  # time the writer waited for a prefetched range
    started: float = field(default_factory=time.monotonic)

    @property
    def lag(self) -> int:
        return max(0, self.head - self.cursor)


class Streamer:
    def __init__(
        self,
        *,
        transport: Transport,
        store: MirrorStore,
        chain_id: int,
        factory: str,
        start_block: int,
        reorg_depth: int,
        use_finalized_tag: bool = True,
        max_range: int = 100_000,
        retry: RetryPolicy | None = None,
        defer_indexes_blocks: int = 0,
    ) -> None:
        self.transport = transport
        self.store = store
        self.chain_id = chain_id
        self.factory = factory.lower()
        self.start_block = start_block
        self.reorg_depth = reorg_depth
        self.use_finalized_tag = use_finalized_tag
        self.defer_indexes_blocks = defer_indexes_blocks  # 0: never defer secondary indexes
        self._deferral_decided = False
        self._indexes_live = False
        self.headers = HeaderFetcher(transport, retry)
        self.logs = LogFetcher(transport, max_range=max_range, retry=retry)
        self.detector = ReorgDetector(store, self.headers, chain_id)
        self.tokens: dict[str, int] = store.tokens(chain_id)
        self._known: Cursor | None = store.cursor(chain_id)  # the cursor `self.tokens` is complete for
        self.stats = StreamerStats()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indexer-prefetch")
        self._prefetch: Future[Fetched] | None = None
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------------------
    def step(self) -> bool:
        """Mirror the next range; True when it did work (call again at once), False when caught up."""
        with self._lock:
            try:
                return self._step()
            except CursorMoved as exc:
                log.warning("%s; resynchronising", exc)
                self._reset()
                return True

    def run(self, stop: threading.Event, poll_s: float, on_step: Callable[[StreamerStats], None] | None = None) -> None:
        """Backfill, then tail; returns when `stop` is set. `ReorgBeyondDepth` propagates (stop loudly)."""
        while not stop.is_set():
            busy = self.step()
            if on_step is not None:
                on_step(self.stats)
            if not busy:
                stop.wait(poll_s)

    def close(self) -> None:
        self._discard_prefetch()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- internals ---------------------------------------------------------------------------------------
    def _reset(self, cursor: Cursor | None = None) -> None:
        self._discard_prefetch()
        # NOTE: cursor first, then tokens: a token row commits with the cursor that covers its creation block
        self._known = self.store.cursor(self.chain_id) if cursor is None else cursor
        self.tokens = self.store.tokens(self.chain_id)

    def _discard_prefetch(self) -> None:
        if self._prefetch is not None:
            self._prefetch.cancel()
            with contextlib.suppress(Exception):  # a discarded prefetch's failure is irrelevant
                self._prefetch.result()
            self._prefetch = None

    def _head_and_safe(self) -> tuple[int, int]:
        """Head and the highest block treated as final (node's `finalized` tag, else head − depth)."""
        if not self.use_finalized_tag:
            head = self.headers.head()
            return head, head - self.reorg_depth
        head, finalized = self.headers.head_and_finalized()
        return head, (head - self.reorg_depth) if finalized is None else min(finalized, head)

    def _step(self) -> bool:
        cursor = self.store.cursor(self.chain_id)
        if cursor != self._known:
            # NOTE: another indexer (a Celery task beside `loyalty indexer run`, a second replica) moved the
            # mirror: the tokens it discovered are in the store, not in this process's list. Without this
            # reload the next range would be fetched for the old addresses and a new brand's mints skipped.
            self._reset(cursor)
        head, safe = self._head_and_safe()
        nxt = self.start_block if cursor is None else cursor.number + 1
        self.stats.head, self.stats.safe = head, safe
        self.stats.cursor = nxt - 1
        if nxt > safe:
            self._ensure_indexes()
        if nxt > head:
            if cursor is not None and cursor.number > safe and self._tip_replaced(cursor):
                self._handle_reorg(cursor)
                return True
            return False
        if nxt <= safe:
            self._decide_deferral(nxt, safe)
            return self._backfill(cursor, nxt, safe)
        return self._tail(cursor, nxt, head, safe)

    def _decide_deferral(self, nxt: int, safe: int) -> None:
        """Once per process: a cold backfill of an empty mirror far behind runs without secondary indexes."""
        if self._deferral_decided:
            return
        self._deferral_decided = True
        if self.defer_indexes_blocks <= 0 or not self.store.can_defer_indexes:
            return
        if self.store.missing_indexes():
            log.info("chain %s: resuming a backfill without secondary indexes; built after catch-up", self.chain_id)
        elif safe - nxt + 1 >= self.defer_indexes_blocks and self.store.defer_indexes(self.chain_id):
            log.info(
                "chain %s: cold backfill of %d blocks; secondary indexes dropped, built after catch-up",
                self.chain_id,
                safe - nxt + 1,
            )

    def _ensure_indexes(self) -> None:
        """Before the first unfinalized block: build whatever index a (possibly crashed) cold backfill deferred."""
        if self._indexes_live:
            return
        self._discard_prefetch()
        began = time.perf_counter()
        built = self.store.build_indexes(self.chain_id)
        self._indexes_live = True
        if built:
            log.info(
                "chain %s: built %d deferred index(es) in %.1fs", self.chain_id, len(built), time.perf_counter() - began
            )

    def _tip_replaced(self, cursor: Cursor) -> bool:
        return self.headers.one(cursor.number).hash != cursor.hash

    def _handle_reorg(self, cursor: Cursor) -> None:
        self._discard_prefetch()
        ancestor = self.detector.common_ancestor(cursor)
        removed = self.store.rewind(self.chain_id, ancestor)
        self._reset()
        self.stats.reorgs += 1
        self.stats.rewound_events += removed
        self.stats.cursor = ancestor.number
        log.warning(
            "chain %s: reorg of %d block(s) above %d; %d mirrored events rolled back",
            self.chain_id,
            cursor.number - ancestor.number,
            ancestor.number,
            removed,
        )

    # -- finalized ranges ---------------------------------------------------------------------------------
    def _backfill(self, cursor: Cursor | None, nxt: int, safe: int) -> bool:
        fetched = None
        if self._prefetch is not None:
            future, self._prefetch = self._prefetch, None
            waited = time.perf_counter()
            fetched = future.result()
            self.stats.wait_s += time.perf_counter() - waited
            if fetched.start != nxt or fetched.end > safe:
                fetched = None
        if fetched is None:
            fetched = self._fetch_range(nxt, safe)
        if not self.detector.extends(cursor, fetched.start_header):
            # NOTE: the cursor sat in the unfinalized window and that part of the chain was replaced since.
            self._handle_reorg(cursor)  # type: ignore[arg-type]
            return True
        if fetched.end < safe:
            # NOTE: fetch the next range while this one is written (network and database overlap).
            self._prefetch = self._pool.submit(self._fetch_range, fetched.end + 1, safe)
        self.stats.rejected += fetched.decoded.rejected
        batch = self._batch(cursor, fetched.start, fetched.end_header, fetched.decoded, [fetched.end_header])
        batch.prune_below = fetched.end
        batch.durable = False  # finalized: a lost asynchronous commit is simply re-indexed
        self._write(batch)
        return True

    def _fetch_range(self, start: int, end_max: int) -> Fetched:
        began = time.perf_counter()
        try:
            return self._fetch_range_timed(start, end_max)
        finally:
            self.stats.fetch_s += time.perf_counter() - began

    def _fetch_range_timed(self, start: int, end_max: int) -> Fetched:
        addresses = [self.factory, *sorted(self.tokens)]
        end, raw = self.logs.by_range(addresses, ALL_TOPICS, start, end_max)
        raw += self._new_token_logs(raw, start, end)
        stamps = self._timestamps(raw)
        start_header, end_header = self.headers.by_number([start, end])
        decoded = decode_logs(raw, frozenset(self.tokens), self.factory, stamps)
        return Fetched(start, end, decoded, start_header, end_header)

    def _new_token_logs(self, raw: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
        """Tokens created inside the range: follow them from their creation block without a restart."""
        created = decode_logs(raw, frozenset(), self.factory).tokens
        new = {t.address: t.block_number for t in created if t.address not in self.tokens}
        if not new:
            return []
        self.tokens.update(new)
        extra: list[dict[str, Any]] = []
        position = min(new.values())
        while position <= end:
            got_end, logs = self.logs.by_range(sorted(new), TOKEN_ONLY, position, end)
            extra += logs
            position = got_end + 1
        log.info("following %d new token(s): %s", len(new), ", ".join(sorted(new)))
        return extra

    def _timestamps(self, raw: list[dict[str, Any]]) -> dict[int, int]:
        missing = sorted({int(r["blockNumber"], 16) for r in raw if not r.get("blockTimestamp")})
        return {h.number: h.timestamp for h in self.headers.by_number(missing)} if missing else {}

    # -- unfinalized blocks --------------------------------------------------------------------------------
    def _tail(self, cursor: Cursor | None, nxt: int, head: int, safe: int) -> bool:
        self._discard_prefetch()
        end = min(head, nxt + LIVE_BATCH - 1)
        headers = self.headers.by_number(list(range(nxt, end + 1)))
        if cursor is not None and not self.detector.extends(cursor, headers[0]):
            self._handle_reorg(cursor)
            return True
        for parent, child in itertools.pairwise(headers):
            if child.parent_hash != parent.hash:
                return True  # the chain moved while we read it; read again
        hashes = [h.hash for h in headers]
        per_block = self.logs.by_block_hashes([self.factory, *sorted(self.tokens)], ALL_TOPICS, hashes)
        raw = [entry for logs in per_block for entry in logs]
        created = decode_logs(raw, frozenset(), self.factory).tokens
        new = {t.address: t.block_number for t in created if t.address not in self.tokens}
        if new:
            self.tokens.update(new)
            first = min(new.values())
            later = [h.hash for h in headers if h.number >= first]
            raw += [e for logs in self.logs.by_block_hashes(sorted(new), TOKEN_ONLY, later) for e in logs]
        if any(r.get("removed") for r in raw):
            return True  # a log of a block that just left the chain: read again
        stamps = {h.number: h.timestamp for h in headers}
        decoded = decode_logs(raw, frozenset(self.tokens), self.factory, stamps)
        self.stats.rejected += decoded.rejected
        batch = self._batch(cursor, nxt, headers[-1], decoded, headers)
        batch.prune_below = min(safe, cursor.number) if cursor is not None else safe
        self._write(batch)
        return True

    # -- writing -----------------------------------------------------------------------------------------
    def _batch(
        self, cursor: Cursor | None, start: int, end: BlockHeader, decoded: Decoded, blocks: list[BlockHeader]
    ) -> Batch:
        return Batch(
            chain_id=self.chain_id,
            from_block=start,
            to_block=end.number,
            to_hash=end.hash,
            transfers=decoded.transfers,
            batch_mints=decoded.batch_mints,
            redemptions=decoded.redemptions,
            tokens=decoded.tokens,
            blocks=blocks,
            prev=cursor,
        )

    def _write(self, batch: Batch) -> None:
        began = time.perf_counter()
        try:
            self.store.write(batch)
        except BaseException:
            self._reset()
            raise
        finally:
            self.stats.write_s += time.perf_counter() - began
        self._known = Cursor(batch.to_block, batch.to_hash)
        self.stats.cursor = batch.to_block
        self.stats.events += batch.events
        self.stats.batches += 1
        if batch.events:
            log.debug("blocks %d..%d: %d events", batch.from_block, batch.to_block, batch.events)
