"""A real HTTP JSON-RPC proxy in front of a node that injects the faults hosted providers produce.

Faults (each a probability, drawn per request from a seeded RNG): JSON-RPC errors, HTTP 502s, dropped
connections, responses slower than the client's timeout; plus a hard `eth_getLogs` block-range limit answered in
Infura's dialect ("query returned more than 10000 results. Try with this block range [0x.., 0x..].").
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass
class Faults:
    error_rate: float = 0.0
    http_error_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 3.0
    max_log_range: int | None = None
    seed: int = 7
    counts: dict[str, int] = field(default_factory=dict)

    def hit(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


class FlakyRpc:
    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        self.upstream = upstream
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, payload = proxy.handle(body)
                if status == 0:  # drop the connection
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyRpc:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._rng.random() < rate

    def handle(self, body: bytes) -> tuple[int, bytes]:
        f = self.faults
        if self._roll(f.drop_rate):
            f.hit("drop")
            return 0, b""
        if self._roll(f.http_error_rate):
            f.hit("http")
            return 502, b"bad gateway"
        if self._roll(f.slow_rate):
            f.hit("slow")
            time.sleep(f.slow_s)
        request = json.loads(body)
        items = request if isinstance(request, list) else [request]
        answers: dict[Any, dict[str, Any]] = {}
        forward = []
        for item in items:
            refusal = self._refuse(item)
            if refusal is not None:
                answers[item.get("id")] = refusal
            else:
                forward.append(item)
        if forward:
            upstream = self._client.post(self.upstream, json=forward).json()
            for answer in upstream if isinstance(upstream, list) else [upstream]:
                answers[answer.get("id")] = answer
        out = [answers[item.get("id")] for item in items]
        return 200, json.dumps(out if isinstance(request, list) else out[0]).encode()

    def _refuse(self, item: dict[str, Any]) -> dict[str, Any] | None:
        f = self.faults
        if item.get("method") == "eth_getLogs" and f.max_log_range:
            spec = item["params"][0]
            if "fromBlock" in spec and "toBlock" in spec and str(spec["toBlock"]).startswith("0x"):
                lo, hi = int(spec["fromBlock"], 16), int(spec["toBlock"], 16)
                if hi - lo + 1 > f.max_log_range:
                    f.hit("range")
                    message = (
                        "query returned more than 10000 results. Try with this block range "
                        f"[{hex(lo)}, {hex(lo + f.max_log_range - 1)}]."
                    )
                    return {"jsonrpc": "2.0", "id": item.get("id"), "error": {"code": -32005, "message": message}}
        if item.get("method", "").startswith("eth_") and self._roll(f.error_rate):
            f.hit("error")
            return {"jsonrpc": "2.0", "id": item.get("id"), "error": {"code": -32603, "message": "internal error"}}
        return None
