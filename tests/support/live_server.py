"""A real uvicorn server around a test container, on a free port, in a thread (for browsers and HTTP clients)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from backend.bootstrap import Container
from backend.entrypoints.api.app import create_app
from devtools.processes import free_port


@contextmanager
def live_server(container: Container) -> Iterator[str]:
    """Serve `create_app(container)`; yields the base URL and stops the server afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
