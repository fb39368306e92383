"""`eth_getLogs` in adaptive block ranges: grow while answers are small, shrink on provider limits.

Providers refuse big queries in many dialects ("query returned more than 10000 results", "block range too
large", "Log response size exceeded ... this block range should work: [0x.., 0x..]", plain timeouts); fixed
ranges are among indexer users' most frequent complaints, so the range follows what the provider accepts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from indexer.errors import FetchFailed, RpcError, RpcTransportError
from indexer.fetch.rpc import RetryPolicy, Transport, batch_strict

log = logging.getLogger("loyalty.indexer.logs")
RANGE_HINT = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
LIMIT_HINT = re.compile(r"(?:block range|range limit|max(?:imum)? (?:block )?range)\D{0,20}(\d+)", re.IGNORECASE)
RANGE_WORDS = (
    "more than",
    "too large",
    "too big",
    "too wide",
    "block range",
    "range limit",
    "exceed",
    "too many",
    "response size",
    "timeout",
    "timed out",
    "limit",
)


def suggested_end(error: RpcError, start: int) -> int | None:
    """The last block of a range the provider says would work, if its message names one."""
    text = f"{error.message} {error.data}"
    match = RANGE_HINT.search(text)
    if match:
        lo, hi = int(match.group(1), 16), int(match.group(2), 16)
        if lo <= start <= hi:
            return hi
        if hi >= lo:
            return start + (hi - lo)
    match = LIMIT_HINT.search(text)
    if match and int(match.group(1)) > 0:
        return start + int(match.group(1)) - 1
    return None


def is_range_error(error: RpcError) -> bool:
    text = f"{error.message} {error.data}".lower()
    return any(word in text for word in RANGE_WORDS)


class LogFetcher:
    def __init__(
        self,
        transport: Transport,
        *,
        initial_range: int = 100,
        max_range: int = 100_000,
        address_chunk: int = 500,
        target_logs: int = 10_000,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.transport = transport
        self.range = min(initial_range, max_range)
        self.max_range = max_range
        self.address_chunk = address_chunk
        self.target_logs = target_logs
        self.retry = retry or RetryPolicy()
        self.shrinks = 0

    def _calls(self, addresses: Sequence[str], topics: list[Any], spec: dict[str, Any]) -> list[tuple[str, list]]:
        chunks = [list(addresses[i : i + self.address_chunk]) for i in range(0, len(addresses), self.address_chunk)]
        return [("eth_getLogs", [{**spec, "address": chunk, "topics": topics}]) for chunk in chunks]

    def _shrink(self, start: int, end: int, to_end: int | None = None) -> None:
        size = (to_end - start + 1) if to_end is not None and start <= to_end < end else (end - start + 1) // 2
        self.range = max(1, size)
        self.shrinks += 1

    def by_range(self, addresses: Sequence[str], topics: list[Any], start: int, end_max: int) -> tuple[int, list]:
        """Logs in [start, end] for an `end <= end_max` the provider accepts; returns (end, raw logs)."""
        if not addresses:
            return end_max, []
        failures = 0
        while True:
            end = min(end_max, start + self.range - 1)
            calls = self._calls(addresses, topics, {"fromBlock": hex(start), "toBlock": hex(end)})
            try:
                results = self.transport.batch(calls)
            except RpcTransportError as exc:
                if exc.timeout and end > start:
                    log.info("eth_getLogs [%d, %d] timed out; shrinking the range", start, end)
                    self._shrink(start, end)
                    continue
                failures += 1
                if failures >= self.retry.attempts:
                    raise FetchFailed(f"eth_getLogs [{start}, {end}] failed {failures} times: {exc}") from exc
                self.retry.sleep(failures)
                continue
            error = next((r for r in results if isinstance(r, RpcError)), None)
            if error is None:
                logs = [entry for chunk in results for entry in chunk]
                self._adapt(end - start + 1, len(logs))
                return end, logs
            hint = suggested_end(error, start)
            if end > start and (hint is not None or is_range_error(error)):
                log.info("eth_getLogs [%d, %d] refused (%s); shrinking", start, end, error.message[:120])
                self._shrink(start, end, hint)
                continue
            failures += 1
            if failures >= self.retry.attempts:
                raise FetchFailed(f"eth_getLogs [{start}, {end}] failed {failures} times: {error}")
            self.retry.sleep(failures)

    def _adapt(self, span: int, count: int) -> None:
        """Aim the next range at `target_logs` results: proportional to this one's density, at most ×2 growth."""
        if span < self.range and count <= self.target_logs:
            return  # capped by end_max: says nothing about the density
        ideal = span * self.target_logs // max(count, 1)
        self.range = max(1, min(self.max_range, 2 * span, ideal))

    def by_block_hashes(self, addresses: Sequence[str], topics: list[Any], hashes: Sequence[str]) -> list[list]:
        """Logs per block, asked by hash (a reorged-away block errors instead of answering for its successor)."""
        if not hashes:
            return []
        if not addresses:
            return [[] for _ in hashes]
        calls: list[tuple[str, list]] = []
        per_block = 0
        for block_hash in hashes:
            block_calls = self._calls(addresses, topics, {"blockHash": block_hash})
            per_block = len(block_calls)
            calls += block_calls

        results = batch_strict(self.transport, calls, self.retry)
        return [
            [entry for chunk in results[i * per_block : (i + 1) * per_block] for entry in chunk]
            for i in range(len(hashes))
        ]
