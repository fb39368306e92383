"""ASGI middleware: request bodies above `LOYALTY_MAX_BODY_BYTES` get a 413 problem before any parsing."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.entrypoints.api.problems import PROBLEM_JSON


class BodyTooLarge(HTTPException):
    """Raised while a streamed body is read; an HTTPException so FastAPI's body parsing re-raises it as is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies are limited to {limit} bytes")


def _problem(limit: int, path: str) -> tuple[dict[str, Any], bytes]:
    body = {
        "type": "https://loyalty.dev/problems/body-too-large",
        "title": "Request body too large",
        "status": 413,
        "detail": f"request bodies are limited to {limit} bytes",
        "code": "body-too-large",
        "instance": path,
    }
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"connection", b"close")],
    }
    return start, json.dumps(body).encode()


class BodyLimitMiddleware:
    """Checks `Content-Length` up front and counts streamed (chunked) bodies as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._reject(scope, send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        start, body = _problem(self.max_bytes, scope.get("path", ""))
        await send(start)
        await send({"type": "http.response.body", "body": body})
