"""`WS /v1/feed`: platform events (credits, confirmed batches, redemptions, budget alerts) as they happen.

Authenticate with `?token=<JWT or lk_ API key>` or the subprotocols `bearer, <token>` (browsers cannot set
headers on WebSockets); `Authorization` / `X-API-Key` headers work too. Admins see every brand (or one with
`?brand_id=`), brand managers and brand API keys only their own. `?after=<event id>` first replays what
followed that event (resume after a disconnect). Each message is one JSON event `{id, type, brand_id,
created_at, data}`. Messages from the client are ignored (never parsed).

Refusals complete the handshake, then close with a code and a reason (a bare HTTP 403 told clients nothing):
4401 missing or invalid credentials, 4403 not allowed (role, or another brand's `brand_id`), 1008 invalid query
parameters; 1013 too far behind (resume with `?after=`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from backend.bootstrap import Container
from backend.entrypoints.api import auth
from backend.errors import LoyaltyError
from backend.services.notifications.feed import FeedEvent, queue_deliverer, read_events

router = APIRouter(tags=["feed"])
FEED_ROLES = ("admin", "brand_manager", "brand_api")


def _credentials(websocket: WebSocket, token: str | None) -> tuple[str | None, str | None]:
    """(token, subprotocol to echo) from the query, the `bearer, <token>` subprotocols or the headers."""
    if token:
        return token, None
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if len(offered) == 2 and offered[0].lower() == "bearer":
        return offered[1], offered[0]
    if websocket.headers.get("x-api-key"):
        return websocket.headers["x-api-key"].strip(), None
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None, None


def _principal(container: Container, token: str) -> auth.Principal:
    # NOTE: the same verification as `auth.get_principal`, which reads HTTP headers only.
    if token.startswith("lk_"):
        return auth._from_api_key(container, token)
    return auth._from_jwt(container, token)


async def _refuse(websocket: WebSocket, subprotocol: str | None, code: int, reason: str) -> None:
    """Complete the handshake, then close with `code`: browsers see the code and reason, not a bare 403."""
    await websocket.accept(subprotocol=subprotocol)
    await websocket.close(code=code, reason=reason)


def _query_int(value: str | None, minimum: int) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) < minimum:
        raise ValueError
    return int(value)


@router.websocket("/v1/feed", name="feed")
async def feed(
    websocket: WebSocket,
    token: str | None = Query(default=None),
    brand_id: str | None = Query(default=None, description="admins: one brand's events (a positive integer)"),
    after: str | None = Query(default=None, description="replay the events after this id first"),
) -> None:
    container: Container = websocket.app.state.container
    raw, subprotocol = _credentials(websocket, token)
    # NOTE: parsed here, not by FastAPI, whose refusal of a bad query parameter is a bare 403 before the handshake.
    try:
        brand = _query_int(brand_id, 1)
        after_id = _query_int(after, 0)
    except ValueError:
        await _refuse(websocket, subprotocol, 1008, "brand_id must be a positive integer, after a non-negative one")
        return
    if raw is None:
        await _refuse(websocket, subprotocol, 4401, "missing credentials")
        return
    try:
        principal = await run_in_threadpool(_principal, container, raw)
    except LoyaltyError:
        await _refuse(websocket, subprotocol, 4401, "invalid credentials")
        return
    if principal.role not in FEED_ROLES:
        await _refuse(websocket, subprotocol, 4403, "the feed is for admins, brand managers and brand API keys")
        return
    if auth.READ_SCOPE not in principal.scopes:
        await _refuse(websocket, subprotocol, 4403, f"the feed needs the scope {auth.READ_SCOPE!r}")
        return
    scope = brand
    if principal.role != "admin":
        if brand is not None and brand != principal.brand_id:
            await _refuse(websocket, subprotocol, 4403, f"not allowed on brand {brand}")
            return
        scope = principal.brand_id
    await websocket.accept(subprotocol=subprotocol)
    queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(maxsize=1000)
    hub = container.feed_hub
    handle, subscription = await run_in_threadpool(
        hub.subscribe, scope, queue_deliverer(asyncio.get_running_loop(), queue)
    )
    receiver: asyncio.Future[Any] | None = None
    try:
        sent: set[int] = set()
        if after_id is not None:
            cursor = after_id
            while True:
                backlog = await run_in_threadpool(_backlog, container, cursor, scope, subscription.start)
                for event in backlog:
                    await websocket.send_json(event.document())
                    sent.add(event.id)
                if len(backlog) < 500:
                    break
                cursor = backlog[-1].id
        receiver = asyncio.ensure_future(websocket.receive())
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                message = receiver.result()
                if message["type"] == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(websocket.receive())  # client messages are ignored
                continue
            queued = getter.result()
            if queued is None:
                await websocket.close(code=1013, reason="too far behind; reconnect with ?after=<last id>")
                return
            if queued.id not in sent:
                await websocket.send_json(queued.document())
    except WebSocketDisconnect:
        return
    finally:
        if receiver is not None:
            receiver.cancel()
        subscription.closed = True
        hub.unsubscribe(handle)


def _backlog(container: Container, after: int, brand_id: int | None, upto: int) -> list[FeedEvent]:
    with container.uow() as uow:
        return read_events(uow.session, above=after, brand_id=brand_id, upto=upto)
