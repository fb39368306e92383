"""ASGI middleware: a body nested deeper than `LOYALTY_MAX_JSON_DEPTH` gets a 422 problem before any parsing.

Every HTTP body is scanned, whatever its `Content-Type` (`POST /rpc` and FastAPI read JSON without one), before
the action fast path, pydantic or the stdlib decoder see it. The scan (`json_depth`) is linear and runs in C.

NOTE: CPython's JSON decoder recurses once per `[`/`{` on the C stack; with a recursion limit raised by a
dependency, 100,000 nested `[` crashed the process (one unauthenticated request stopped minting).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from backend.domain.json_nesting import json_depth
from backend.entrypoints.api.asgi_body import read_body, replay
from backend.entrypoints.api.problems import problem
from backend.errors import InvalidInput


class JsonTooDeep(InvalidInput):
    code = "json-too-deep"
    title = "JSON nested too deeply"


class JsonDepthMiddleware:
    """Reads the whole body (already bounded by the body-size limit outside), checks it, then replays it."""

    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        body, disconnected = await read_body(receive)
        # NOTE: a body with fewer brackets than the limit cannot nest deeper (the single-action hot path).
        if body.count(b"[") + body.count(b"{") > self.max_depth and json_depth(body) > self.max_depth:
            error = JsonTooDeep(f"JSON in request bodies may nest at most {self.max_depth} levels deep")
            response = problem(error.status, error.code, error.title, error.detail, scope.get("path", ""))
            await response(scope, receive, send)
            return
        await self.app(scope, replay(body, disconnected, receive), send)


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False
