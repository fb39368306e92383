"""What `loyalty indexer run|reconcile|status` do, as plain functions returning exit codes (typer is in
`backend/entrypoints/cli/indexer.py`)."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from web3.exceptions import Web3RPCError

from backend.errors import ChainUnavailable
from indexer.errors import FetchFailed, ReorgBeyondDepth
from indexer.fetch.blocks import HeaderFetcher
from indexer.fetch.rpc import Transport
from indexer.store import open_store
from indexer.streamer import Streamer, StreamerStats

# The mirror store talks to the driver directly, so its errors are the driver's; the engine's are SQLAlchemy's.
DATABASE_ERRORS = (DBAPIError, psycopg.Error, sqlite3.Error)
# A node that is down (no answer) or answers with an error (overloaded, restarting): wait, never exit.
NODE_ERRORS = (ChainUnavailable, FetchFailed, Web3RPCError)

log = logging.getLogger("loyalty.indexer")
EXIT_REORG_BEYOND_DEPTH = 3


def _close_quietly(streamer: Any) -> None:
    for close in (streamer.close, streamer.store.close):
        try:
            close()
        except Exception as exc:  # the connection may already be gone
            log.debug("ignoring error while closing the indexer: %s", exc)


def _rebuild(build: Callable[[], Streamer], stop: threading.Event) -> Streamer:
    """A fresh streamer once the database and the node answer again (waits with backoff, until stopped)."""
    delay = 1.0
    while True:
        try:
            return build()
        # NOTE: building asks the node for its chain id: a node outage during a database outage is no crash.
        except (*DATABASE_ERRORS, *NODE_ERRORS) as exc:
            if stop.is_set():
                raise
            log.warning("database or node unavailable (%s); retrying in %.0f s", str(exc).splitlines()[0], delay)
            stop.wait(delay)
            delay = min(30.0, delay * 2)


def run(build: Callable[[], Streamer], poll: float, *, until_caught_up: bool = False, progress_s: float = 5.0) -> int:
    """Backfill then tail until SIGINT/SIGTERM; exit code 3 when a reorg goes deeper than the kept window.

    `build` makes a streamer (again after a lost database connection); `poll` is the idle wait in seconds."""
    streamer = build()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    last = {"t": time.monotonic(), "events": 0}

    def report(stats: StreamerStats) -> None:
        now = time.monotonic()
        if now - last["t"] >= progress_s:
            rate = (stats.events - last["events"]) / (now - last["t"])
            log.info(
                "block %d / head %d (lag %d), %d events, %.0f events/s, %d reorgs",
                stats.cursor,
                stats.head,
                stats.lag,
                stats.events,
                rate,
                stats.reorgs,
            )
            last.update(t=now, events=stats.events)

    failures = 0
    try:
        while not stop.is_set():
            try:
                busy = streamer.step()
                failures = 0
            except NODE_ERRORS as exc:
                failures += 1
                log.warning("indexer step failed (%s); retrying", exc)
                stop.wait(min(30.0, poll * 2**failures))
                continue
            except DATABASE_ERRORS as exc:
                # NOTE: a lost database connection (restart, failover, terminated backend) rolls back the
                # uncommitted batch; rebuild the streamer so it resumes from the committed cursor.
                failures += 1
                log.warning("indexer database error (%s); reconnecting", str(exc).splitlines()[0])
                _close_quietly(streamer)
                stop.wait(min(30.0, poll * 2**failures))
                streamer = _rebuild(build, stop)
                continue
            report(streamer.stats)
            if not busy:
                if until_caught_up:
                    break
                stop.wait(poll)
    except ReorgBeyondDepth as exc:
        log.critical("%s", exc)
        print(f"indexer stopped: {exc}", file=sys.stderr)
        return EXIT_REORG_BEYOND_DEPTH
    finally:
        _close_quietly(streamer)
    log.info("indexer stopped at block %d (%d events this run)", streamer.stats.cursor, streamer.stats.events)
    return 0


def status(engine: Engine, transport: Transport, chain_id: int) -> dict[str, Any]:
    """Cursor, head, lag and row counts of the mirror of `chain_id`."""
    store = open_store(engine)
    try:
        cursor = store.cursor(chain_id)
        headers = HeaderFetcher(transport)
        head = headers.head()
        finalized = headers.finalized()
        out: dict[str, Any] = {
            "chain_id": chain_id,
            "cursor": cursor.number if cursor else None,
            "cursor_hash": cursor.hash if cursor else None,
            "head": head,
            "finalized": finalized,
            "lag_blocks": head - cursor.number if cursor else None,
            "kept_blocks_from": store.oldest_kept(chain_id),
            "tokens": len(store.tokens(chain_id)),
            "rows": store.counts(chain_id),
        }
    finally:
        store.close()
    return out


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
