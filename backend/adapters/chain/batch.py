"""JSON-RPC batch requests: many read calls in one HTTP round trip (receipts, balances, nonces).

NOTE: a pass over 64 in-flight transactions made ~130 sequential RPCs; on a loaded machine that alone took
seconds and delayed every confirmation. One batch per kind of call keeps a pass at a few round trips.
Nodes or proxies without batch support (and the in-process eth-tester) get one call at a time instead.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any

import httpx

from backend.adapters.chain.client import ChainClient
from backend.errors import ChainUnavailable

MAX_BATCH = 500  # calls per HTTP request (providers cap batches; 500 is below the usual limits)
TIMEOUT_S = 10.0


class RpcCallError(ChainUnavailable):
    """One call of a batch failed (the node's `error` object)."""


class RpcBatch:
    """Sends `(method, params)` calls as JSON-RPC batches to the chain's URLs (failover in order)."""

    def __init__(self, chain: ChainClient) -> None:
        self.chain = chain
        self._ids = itertools.count(1)
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def supported(self) -> bool:
        return self.chain.kind == "rpc"

    def _client(self) -> httpx.Client:
        """One keep-alive client shared by every thread (httpx clients are thread-safe).

        NOTE: not one per call or per thread: creating a client builds an SSL context (~20 ms of CPU), and the
        builder's worker threads are short-lived."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=TIMEOUT_S)
            return self._http

    def call(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Raw JSON results in call order; a call the node refused comes back as an `RpcCallError` instance.

        Raises `ChainUnavailable` when no URL answered the batch as a batch (the caller falls back)."""
        results: list[Any] = []
        for start in range(0, len(calls), MAX_BATCH):
            chunk = calls[start : start + MAX_BATCH]
            payload = [
                {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
                for method, params in chunk
            ]
            by_id = {reply.get("id"): reply for reply in self._post(payload) if isinstance(reply, dict)}
            for request in payload:
                reply = by_id.get(request["id"])
                if reply is None:
                    raise ChainUnavailable(f"batch reply lacks the answer to {request['method']}")
                if "error" in reply:
                    results.append(RpcCallError(f"{request['method']} failed: {reply['error']}"))
                else:
                    results.append(reply.get("result"))
        return results

    def _post(self, payload: list[dict[str, Any]]) -> list[Any]:
        last: Exception | None = None
        for url in self.chain.urls:
            try:
                response = self._client().post(url, json=payload)
                response.raise_for_status()
                replies = response.json()
                if not isinstance(replies, list):
                    raise ValueError("node answered a batch with a single object")
                return replies
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
        raise ChainUnavailable(f"batched JSON-RPC failed on every RPC URL: {last}")
