"""Adaptive `eth_getLogs` ranges: shrink on provider limits (honouring a suggested range), grow on success."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from indexer.errors import RpcError, RpcTransportError
from indexer.fetch.logs import LogFetcher, suggested_end
from indexer.fetch.rpc import RetryPolicy

FAST = RetryPolicy(attempts=3, base_s=0.0, cap_s=0.0)


class LimitedProvider:
    """A provider that refuses ranges wider than `limit` blocks, the way a hosted RPC does."""

    def __init__(self, limit: int, message: str) -> None:
        self.limit = limit
        self.message = message
        self.asked: list[tuple[int, int]] = []

    def batch(self, calls: Sequence[tuple[str, list[Any]]], timeout_s: float | None = None) -> list[Any]:
        out: list[Any] = []
        for _method, params in calls:
            lo, hi = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
            self.asked.append((lo, hi))
            if hi - lo + 1 > self.limit:
                out.append(
                    RpcError(
                        "eth_getLogs", {"code": -32005, "message": self.message.format(lo=lo, hi=lo + self.limit - 1)}
                    )
                )
            else:
                out.append([{"blockNumber": hex(n)} for n in range(lo, hi + 1)])
        return out

    def close(self) -> None:
        return None


def test_suggested_range_is_honoured() -> None:
    provider = LimitedProvider(
        500, "query returned more than 10000 results. Try with this block range [{lo:#x}, {hi:#x}]."
    )
    fetcher = LogFetcher(provider, initial_range=10_000, retry=FAST)
    end, logs = fetcher.by_range(["0x" + "ab" * 20], [], 100, 100_000)
    assert (end, len(logs)) == (599, 500)
    assert provider.asked == [(100, 10_099), (100, 599)]


def test_range_shrinks_without_a_hint_and_grows_back() -> None:
    provider = LimitedProvider(300, "block range too large")
    fetcher = LogFetcher(provider, initial_range=2_000, retry=FAST)
    position, seen = 0, 0
    while position <= 5_000:
        end, logs = fetcher.by_range(["0x" + "ab" * 20], [], position, 5_000)
        seen += len(logs)
        position = end + 1
    assert seen == 5_001  # every block exactly once
    assert all(hi - lo + 1 <= 2_000 for lo, hi in provider.asked)


def test_timeouts_shrink_the_range() -> None:
    class SlowOnBigRanges(LimitedProvider):
        def batch(self, calls: Sequence[tuple[str, list[Any]]], timeout_s: float | None = None) -> list[Any]:
            lo, hi = int(calls[0][1][0]["fromBlock"], 16), int(calls[0][1][0]["toBlock"], 16)
            if hi - lo + 1 > self.limit:
                raise RpcTransportError("eth_getLogs", "read timeout", timeout=True)
            return super().batch(calls, timeout_s)

    fetcher = LogFetcher(SlowOnBigRanges(100, ""), initial_range=1_000, retry=FAST)
    end, logs = fetcher.by_range(["0x" + "ab" * 20], [], 0, 10_000)
    assert end <= 99 and len(logs) == end + 1


def test_hint_parsing_dialects() -> None:
    alchemy = RpcError(
        "eth_getLogs", {"message": "Log response size exceeded. this block range should work: [0x10, 0x1f]"}
    )
    assert suggested_end(alchemy, 0x10) == 0x1F
    limit = RpcError("eth_getLogs", {"message": "exceed maximum block range: 5000"})
    assert suggested_end(limit, 100) == 5_099
