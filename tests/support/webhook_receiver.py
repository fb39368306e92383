"""A real HTTP webhook receiver on 127.0.0.1 (a thread) that verifies `Loyalty-Signature` like a brand would
(with the SDK's `verify_webhook`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from backend.domain.webhooks import parse_header
from loyalty_client import SIGNATURE_HEADER, WebhookSignatureError, verify_webhook


@dataclass
class Received:
    body: dict[str, Any]
    raw: bytes
    signature: str
    valid_for: list[str]  # which of the receiver's secrets verified it
    attempt: int


@dataclass
class Receiver:
    url: str = ""
    secrets: list[str] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.valid_for]

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [r.body for r in self.verified() if type_ is None or r.body["type"] == type_]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            header = self.headers.get(SIGNATURE_HEADER, "")
            valid = []
            for secret in receiver.secrets:
                try:
                    verify_webhook(raw, header, secret)
                    valid.append(secret)
                except WebhookSignatureError:
                    pass
            parse_header(header)  # malformed headers fail the test loudly (500 to the sender)
            with receiver.lock:
                receiver.received.append(
                    Received(json.loads(raw), raw, header, valid, int(self.headers.get("Loyalty-Attempt", "0")))
                )
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            status = receiver.status if valid else 401
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
