"""ASGI middleware: a known path asked with a method it does not serve gets 405 with every method it serves.

NOTE: Starlette answers 405 with the methods of the first route whose path matched, and a route with a plain
`{id}` parameter also matches `.../{id}:rotate`, so a wrong method there reached the `{id}` route (422/401).
Here every documented path template is matched at once; the most specific ones (most literal characters) own
the path, and `Allow` is the union of their methods.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.entrypoints.api.problems import problem

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM = re.compile(r"\{[^}]+\}")


def _template(path: str) -> tuple[re.Pattern[str], int]:
    parts = _PARAM.split(path)
    pattern = "[^/]+".join(re.escape(part) for part in parts)
    return re.compile(f"^{pattern}$"), sum(len(part) for part in parts)


class MethodRouting:
    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self._table: list[tuple[re.Pattern[str], int, frozenset[str]]] | None = None

    def table(self) -> list[tuple[re.Pattern[str], int, frozenset[str]]]:
        if self._table is None:
            table = []
            for path, item in self.api.openapi().get("paths", {}).items():
                methods = {m.upper() for m in item if m in METHODS}
                if "GET" in methods:
                    methods.add("HEAD")  # Starlette serves HEAD wherever it serves GET
                table.append((*_template(path), frozenset(methods)))
            self._table = table
        return self._table

    def allowed(self, path: str) -> frozenset[str] | None:
        """The methods the most specific documented templates matching `path` serve (None: no such path)."""
        matches = [(literal, methods) for pattern, literal, methods in self.table() if pattern.match(path)]
        if not matches:
            return None
        best = max(literal for literal, _ in matches)
        return frozenset().union(*(methods for literal, methods in matches if literal == best))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self.allowed(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                allow = ", ".join(sorted(allowed))
                detail = f"{scope['method']} is not allowed here; use {allow}"
                response: Any = problem(
                    405, "method-not-allowed", "Method not allowed", detail, scope["path"], headers={"Allow": allow}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
