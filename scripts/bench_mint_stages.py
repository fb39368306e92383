"""Where an action's latency goes: per-stage timings for `bench_mint.py`.

Stages of one credited action (each a gap between two instants, percentiles over actions):

    accepted ─window+build─▶ built ─▶ signed ─▶ broadcast ─▶ in a block ─▶ seen included ─▶ confirmed ─▶ settled

`accepted`, `built`, `signed`, `seen included`, `confirmed`, `settled` are the pipeline's own timestamps
(credit_outbox, mint_batches, relay_intents); `broadcast` comes from the relayer's log record, and `in a block`
from a watcher thread that polls the node's head every 50 ms (the instant a block was first seen).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

STAGES = (
    ("wait_for_batch", "accepted", "built"),
    ("built_to_signed", "built", "signed"),
    ("signed_to_broadcast", "signed", "broadcast"),
    ("broadcast_to_block", "broadcast", "block"),
    ("block_to_seen", "block", "included"),
    ("seen_to_confirmed", "included", "confirmed"),
    ("confirmed_to_settled", "confirmed", "settled"),
)


class BlockWatcher:
    """Records when each block number was first seen (wall clock, UTC), polling `eth_blockNumber`."""

    def __init__(self, url: str, interval_s: float = 0.05) -> None:
        self.url = url
        self.interval_s = interval_s
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-block-watcher", daemon=True)

    def start(self) -> BlockWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last = -1
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
                    head = int(client.post(self.url, json=body).json()["result"], 16)
                except (httpx.HTTPError, KeyError, ValueError):
                    head = last
                now = time.time()
                for number in range(last + 1, head + 1):
                    self.seen.setdefault(number, now)
                last = max(last, head)
                self._stop.wait(self.interval_s)


class BroadcastLog(logging.Handler):
    """First successful broadcast instant per relay intent ref, taken from the relayer's `relay broadcast` log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.first: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        sent = isinstance(args, tuple) and len(args) > 6 and args[6] in ("sent", "already-known")
        if sent and str(record.msg).startswith("relay broadcast"):
            self.first.setdefault(str(args[1]), record.created)  # type: ignore[index]

    def install(self) -> BroadcastLog:
        relayer_log = logging.getLogger("loyalty.relayer")
        relayer_log.setLevel(logging.INFO)
        relayer_log.propagate = False  # keep INFO off stderr; warnings still go there
        stderr = logging.StreamHandler()
        stderr.setLevel(logging.WARNING)
        stderr.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        relayer_log.addHandler(stderr)
        relayer_log.addHandler(self)
        return self


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    arr = np.asarray(values)
    return {"p50": round(float(np.percentile(arr, 50)), 2), "p95": round(float(np.percentile(arr, 95)), 2)}


def stage_timings(conn: Connection, pattern: str, blocks: BlockWatcher, broadcasts: BroadcastLog) -> dict[str, Any]:
    """Per-stage p50/p95 over the minted actions whose action id matches `pattern`, plus inclusion delays."""
    rows = conn.execute(
        text(
            "SELECT c.created_at, c.updated_at, b.batch_id, b.created_at, i.submitted_at, i.block_number,"
            " i.included_at, i.confirmed_at FROM credit_outbox c JOIN mint_batches b ON b.batch_id = c.batch_id"
            " JOIN relay_intents i ON i.purpose = 'batch_mint' AND i.ref = b.batch_id"
            " WHERE c.state = 'minted' AND c.action_id LIKE :pattern"
        ),
        {"pattern": pattern},
    ).all()
    numbers = sorted(blocks.seen)
    times = [blocks.seen[n] for n in numbers]
    gaps: dict[str, list[float]] = defaultdict(list)
    to_confirmed: list[float] = []
    to_settled: list[float] = []
    blocks_waited: dict[str, int] = {}
    for accepted, settled, batch_id, built, signed, number, included, confirmed in rows:
        t = {
            "accepted": _epoch(accepted),
            "built": _epoch(built),
            "signed": _epoch(signed),
            "broadcast": broadcasts.first.get(batch_id),
            "block": blocks.seen.get(int(number)) if number is not None else None,
            "included": _epoch(included),
            "confirmed": _epoch(confirmed),
            "settled": _epoch(settled),
        }
        for name, start, end in STAGES:
            a, b = t[start], t[end]
            if a is not None and b is not None:
                gaps[name].append(b - a)
        if t["accepted"] is not None and t["confirmed"] is not None:
            to_confirmed.append(t["confirmed"] - t["accepted"])
        if t["accepted"] is not None and t["settled"] is not None:
            to_settled.append(t["settled"] - t["accepted"])
        if number is not None and t["broadcast"] is not None:
            # the first block seen after the broadcast is block 1: a later one means a missed block
            first = bisect.bisect_right(times, t["broadcast"])
            if first < len(numbers):
                blocks_waited[batch_id] = int(number) - numbers[first] + 1
    waited = list(blocks_waited.values())
    return {
        "stages": {name: _pct(gaps[name]) for name, _, _ in STAGES},
        "to_confirmed": _pct(to_confirmed),
        "to_settled": _pct(to_settled),
        # blocks between the head at broadcast and the including block: 1 = the very next block
        "batches_in_next_block": sum(1 for w in waited if w <= 1),
        "batches_later": sum(1 for w in waited if w > 1),
        "max_blocks_to_inclusion": max(waited) if waited else None,
    }
