"""JSON-RPC batch requests for the relayer and the mint pipeline: many reads in one HTTP round trip.

The client itself is the indexer's `indexer.fetch.rpc.HttpTransport` (ids, failover between URLs, per-item
errors); this adapter gives it a `ChainClient`'s URLs, splits large batches and says `ChainUnavailable` when no
URL answered. NOTE: the shared client lives with the indexer because it depends on nothing of the backend but
its error root, so the indexer keeps depending on an engine and a transport only, never on backend services.

NOTE: a pass over 64 in-flight transactions made ~130 sequential RPCs; on a loaded machine that alone took
seconds and delayed every confirmation. One batch per kind of call keeps a pass at a few round trips.
Nodes or proxies without batch support (and the in-process eth-tester) get one call at a time instead.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from backend.adapters.chain.client import ChainClient
from backend.errors import ChainUnavailable
from indexer.errors import RpcTransportError
from indexer.fetch.rpc import HttpTransport

MAX_BATCH = 500  # calls per HTTP request (providers cap batches; 500 is below the usual limits)
TIMEOUT_S = 10.0


class RpcBatch:
    """Sends `(method, params)` calls as JSON-RPC batches to the chain's URLs (failover in order)."""

    def __init__(self, chain: ChainClient) -> None:
        self.chain = chain
        self._transport: HttpTransport | None = None
        self._lock = threading.Lock()

    @property
    def supported(self) -> bool:
        return self.chain.kind == "rpc"

    def _client(self) -> HttpTransport:
        """One keep-alive transport shared by every thread (httpx clients are thread-safe).

        NOTE: not one per call or per thread: creating a client builds an SSL context (~20 ms of CPU), and the
        builder's worker threads are short-lived."""
        with self._lock:
            if self._transport is None:
                self._transport = HttpTransport(self.chain.urls, timeout_s=TIMEOUT_S)
            return self._transport

    def call(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Raw JSON results in call order; a call the node refused comes back as an `RpcError` instance.

        Raises `ChainUnavailable` when no URL answered the batch (the caller falls back)."""
        results: list[Any] = []
        for start in range(0, len(calls), MAX_BATCH):
            try:
                results += self._client().batch(calls[start : start + MAX_BATCH])
            except RpcTransportError as exc:
                raise ChainUnavailable(f"batched JSON-RPC failed on every RPC URL: {exc}") from exc
        return results
