"""Reading a request body inside ASGI middleware, and handing the same body on to the app behind it."""

from __future__ import annotations

from starlette.types import Message, Receive


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, and whether the client disconnected first (then the app behind sees the disconnect)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts), True
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), False


def replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    """A `receive` that gives the app the body read already, then whatever the client sends next."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if disconnected:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
