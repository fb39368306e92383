"""ASGI fast path for `POST /v1/actions`, the hottest route: valid requests skip FastAPI's per-request machinery.

A request takes the fast path only when it is exactly what a brand's POS sends: a JSON body, a valid brand API
key with the `actions:write` scope, and a body that validates as `ActionIn`. It is then handed to the same
group-commit `ActionBatcher` the FastAPI route uses, and the answer is built the same way (201 created / 200
replayed, `Idempotent-Replayed` header). Everything else (no or bad credentials, JWTs, malformed or invalid
bodies) is passed, body included, to the FastAPI route, so every error keeps its one problem+json mapping;
errors raised while recording go through the app's own exception handlers.

NOTE: per request FastAPI costs routing over every route, dependency resolution and a JSON parse before
validation; on 2 cores that was about half of the API's CPU per single action.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.bootstrap import Container
from backend.domain.actions import ActionIn
from backend.entrypoints.api.asgi_body import no_body, read_body, replay
from backend.entrypoints.api.rate_limit import VERIFIED_KEY_STATE, presented_credential

PATH = "/v1/actions"
SCOPE = "actions:write"


class ActionFastPath:
    def __init__(self, app: ASGIApp, api: FastAPI, container: Container) -> None:
        self.app, self.api, self.container = app, api, container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        brand_id = self._brand(scope)
        if brand_id is None:
            await self.app(scope, receive, send)
            return
        body, more = await read_body(receive)
        action = None
        if not more:
            try:
                action = ActionIn.model_validate_json(body)
            except ValidationError:
                action = None
        if action is None:  # the FastAPI route answers (its 422 problem), reading the same body
            await self.app(scope, replay(body, more, receive), send)
            return
        try:
            batcher = self.container.action_batcher
            result = await batcher.submit(brand_id, action)
        except Exception as exc:  # the app's own exception handlers map it (problem+json)
            await self._problem(scope, exc, send)
            return
        replayed = result.status == "replayed"
        await send(
            {
                "type": "http.response.start",
                "status": 200 if replayed else 201,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"idempotent-replayed", b"true" if replayed else b"false"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": to_json(result.body)})

    def _brand(self, scope: Scope) -> int | None:
        """The brand of a valid brand API key allowed to write actions; None sends the request the slow way."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not headers.get("content-type", "").startswith("application/json"):
            return None
        raw = presented_credential(headers)
        if not raw.startswith("lk_"):
            return None
        # NOTE: the rate limiter verified this very key (cached in process); a key it did not see may need a
        # database lookup, which the FastAPI route does off the event loop.
        seen = scope.get("state", {}).get(VERIFIED_KEY_STATE)
        if seen is None or seen[0] != raw or SCOPE not in seen[1].scopes:
            return None
        return int(seen[1].brand_id)

    async def _problem(self, scope: Scope, exc: Exception, send: Send) -> None:
        handler: Any = None
        for cls in type(exc).__mro__:
            handler = self.api.exception_handlers.get(cls)
            if handler is not None:
                break
        if handler is None:
            raise exc
        response = await handler(Request(scope), exc)
        await response(scope, no_body, send)
