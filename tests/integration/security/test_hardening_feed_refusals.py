"""WebSocket feed refusals complete the handshake and close with the documented code and a reason.

Found by fuzzing: every refusal of `WS /v1/feed` was a bare HTTP 403 on the handshake (the close came before the
accept), so a client could not tell missing credentials from a forbidden brand or a bad query parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.security.conftest import World
from tests.support.live_server import live_server


@pytest.fixture(scope="module")
def ws_base(world: World) -> Iterator[str]:
    with live_server(world.container) as base:
        yield base.replace("http://", "ws://")


def _close(url: str, subprotocols: list[str] | None = None) -> tuple[int, str]:
    """The close code and reason the server sent after the handshake (fails if the handshake was refused)."""

    async def run() -> tuple[int, str]:
        async with connect(url, subprotocols=subprotocols, open_timeout=30) as ws:  # type: ignore[arg-type]
            try:
                await asyncio.wait_for(ws.recv(), 30)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code, closed.rcvd.reason
            raise AssertionError("the feed sent an event instead of a refusal")

    return asyncio.run(run())


def test_refusals_close_with_documented_codes_and_reasons(world: World, ws_base: str) -> None:
    feed = f"{ws_base}/v1/feed"
    key_b = world.callers["key_b"]["Authorization"].removeprefix("Bearer ")
    viewer = world.callers["viewer"]["Authorization"].removeprefix("Bearer ")
    code, reason = _close(feed)
    assert (code, reason) == (4401, "missing credentials")
    assert _close(f"{feed}?token=lk_1_forged")[0] == 4401
    assert _close(f"{feed}?token=not-a-token")[0] == 4401
    code, reason = _close(f"{feed}?token={key_b}&brand_id={world.brand_a}")
    assert code == 4403 and str(world.brand_a) in reason
    assert _close(f"{feed}?token={viewer}")[0] == 4403
    # Credentials in the `bearer, <token>` subprotocols: the refusal still arrives as a close, not a 403.
    assert _close(f"{feed}?brand_id={world.brand_a}", subprotocols=["bearer", key_b])[0] == 4403
    code, reason = _close(f"{feed}?token={key_b}&brand_id=-1")
    assert code == 1008 and "brand_id" in reason
    assert _close(f"{feed}?token={key_b}&after=x")[0] == 1008


def test_the_close_codes_are_documented() -> None:
    from backend.entrypoints.api.routes.notifications import feed

    for code in ("4401", "4403", "1008", "1013"):
        assert code in (feed.__doc__ or "")
