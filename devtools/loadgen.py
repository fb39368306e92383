"""A raw asyncio HTTP/1.1 load generator: keep-alive connections, prebuilt requests, latencies and statuses.

NOTE: far cheaper per request than a general-purpose client, so on a 2-core box the generator does not eat the
core the server under test needs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


class RawHttp:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol; far cheaper per request than
    a general-purpose client, so the generator does not eat the core the server needs."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2**24)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at)
            body = await self.reader.readexactly(int(lower[at + 15 : end]))
        else:  # chunked
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(c[:-2] for c in chunks)
        return status, body

    def close(self) -> None:
        self.writer.close()


def http_request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    sent: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    sample_error: str = ""

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    def per_s(self, items_per_request: int = 1) -> float:
        return self.ok * items_per_request / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _load(port: int, make: Callable[[int], bytes], total: int, concurrency: int, budget_s: float) -> LoadResult:
    result = LoadResult()
    next_index = 0
    deadline = time.perf_counter() + budget_s
    conns = [RawHttp("127.0.0.1", port) for _ in range(min(concurrency, total))]
    await asyncio.gather(*(c.connect() for c in conns))

    async def worker(conn: RawHttp) -> None:
        nonlocal next_index
        while next_index < total and time.perf_counter() < deadline:
            raw = make(next_index)
            next_index += 1
            started = time.perf_counter()
            status, body = await conn.request(raw)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1
            if status >= 300 and not result.sample_error:
                result.sample_error = body[:300].decode(errors="replace")

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    result.elapsed_s = time.perf_counter() - started
    result.sent = next_index
    for c in conns:
        c.close()
    return result


def run_load(port: int, make: Callable[[int], bytes], total: int, concurrency: int, budget_s: float) -> LoadResult:
    try:
        import uvloop

        return uvloop.run(_load(port, make, total, concurrency, budget_s))
    except ImportError:  # pragma: no cover
        return asyncio.run(_load(port, make, total, concurrency, budget_s))
