"""A real JSON-RPC HTTP proxy on 127.0.0.1 that injects faults between a client and a node.

    with RpcProxy(node.url, seed=1) as proxy:
        proxy.set_rates(error=0.2, drop=0.1, methods={"eth_sendRawTransaction"})   # random faults
        proxy.script("eth_sendRawTransaction", Fault("timeout", forward=True))     # the next call: lands, no answer
        w3 = Web3(Web3.HTTPProvider(proxy.url, request_kwargs={"timeout": 1}))

Fault kinds: `error` (a JSON-RPC error answer), `http_error` (HTTP 502), `drop` (connection closed without an
answer), `delay` (answered late), `timeout` (held past the client's timeout, then closed). `forward=True` sends
the request to the node first, so the effect happened although the client sees a failure — the case that
matters for transactions ("the send timed out, but did it land?"). Scripted faults (per method, in order) come
before random ones; `stats` counts what was injected.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

FAULT_KINDS = ("error", "http_error", "drop", "delay", "timeout")


@dataclass(frozen=True)
class Fault:
    kind: str
    forward: bool = False  # does the node get the request before the client sees the fault?
    delay_s: float = 0.5  # `delay`: added latency; `timeout`: how long the connection is held
    message: str = "injected fault"
    code: int = -32603

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")


class RpcProxy:
    def __init__(self, upstream: str, *, seed: int = 0, timeout_hold_s: float = 2.0) -> None:
        self.upstream = upstream
        self.timeout_hold_s = timeout_hold_s
        self.stats: Counter[tuple[str, str]] = Counter()  # (method, fault kind or "ok") -> count
        self.forwarded: Counter[str] = Counter()  # method -> requests the node received
        self._rng = random.Random(seed)
        self._rates: dict[str, float] = {}
        self._rate_methods: set[str] | None = None
        self._scripts: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- configuration (thread-safe, may change while clients run) ------------------------------------------

    def set_rates(self, methods: set[str] | None = None, **rates: float) -> None:
        """Random faults: probability per kind (e.g. error=0.2, drop=0.1); only for `methods` if given."""
        unknown = set(rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        if sum(rates.values()) > 1:
            raise ValueError("fault probabilities add up to more than 1")
        with self._lock:
            self._rates = dict(rates)
            self._rate_methods = set(methods) if methods else None

    def script(self, method: str, *faults: Fault) -> None:
        """The next calls of `method` get these faults, in order (then random faults apply again)."""
        with self._lock:
            self._scripts[method].extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._rates, self._rate_methods = {}, None
            self._scripts.clear()

    def _pick(self, method: str) -> Fault | None:
        with self._lock:
            queue = self._scripts.get(method)
            if queue:
                return queue.popleft()
            if not self._rates or (self._rate_methods is not None and method not in self._rate_methods):
                return None
            draw = self._rng.random()
            forward_draw = self._rng.random()
        for kind, rate in self._rates.items():
            if draw < rate:
                # random faults land half of the time: the node got the request, the answer got lost
                forward = kind in ("drop", "timeout") and forward_draw < 0.5
                return Fault(kind, forward=forward, delay_s=self.timeout_hold_s if kind == "timeout" else 0.2)
            draw -= rate
        return None

    # -- server -----------------------------------------------------------------------------------------------

    def _forward(self, body: bytes) -> bytes:
        response = self._client.post(self.upstream, content=body, headers={"content-type": "application/json"})
        return response.content

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    request = json.loads(body)
                except ValueError:
                    self._answer(400, b'{"error": "bad json"}')
                    return
                first = request[0] if isinstance(request, list) and request else request
                method = str(first.get("method", "?")) if isinstance(first, dict) else "?"
                fault = proxy._pick(method)
                with proxy._lock:
                    proxy.stats[(method, fault.kind if fault else "ok")] += 1
                if fault is None or fault.kind == "delay" or fault.forward:
                    if fault is not None and fault.kind == "delay":
                        time.sleep(fault.delay_s)
                    upstream = proxy._forward(body)
                    with proxy._lock:
                        proxy.forwarded[method] += 1
                    if fault is None or fault.kind == "delay":
                        self._answer(200, upstream)
                        return
                assert fault is not None
                if fault.kind == "error":
                    error = {"code": fault.code, "message": fault.message}
                    payload = {"jsonrpc": "2.0", "id": first.get("id") if isinstance(first, dict) else None}
                    self._answer(200, json.dumps({**payload, "error": error}).encode())
                elif fault.kind == "http_error":
                    self._answer(502, b"bad gateway (injected)")
                else:  # drop / timeout: no answer at all
                    if fault.kind == "timeout":
                        time.sleep(fault.delay_s)
                    self.close_connection = True
                    self.connection.close()

        return Handler

    def start(self) -> RpcProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RpcProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["FAULT_KINDS", "Fault", "RpcProxy"]
