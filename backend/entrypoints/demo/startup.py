"""`loyalty up` runs the promotional event in a background thread once the API answers, then keeps serving."""

from __future__ import annotations

import logging
import sys
import threading
import time

import httpx

from backend.config import Environment, Settings
from backend.entrypoints.demo.event import DemoEvent, DemoFailed

log = logging.getLogger("loyalty.demo")
STAGE_LOG_EVERY_S = 5.0


def login_hint(settings: Settings) -> str:
    """The dashboard's sign-in, spelled out only in development (production never prints a password)."""
    if settings.env is Environment.DEVELOPMENT:
        return f"  (sign in: {settings.admin_email} / {settings.admin_password})"
    return ""


def _wait_for_api(base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DemoFailed(f"the API at {base} did not answer within {timeout_s:.0f} s")


def run_startup_demo(settings: Settings, actions: int) -> None:
    base = f"http://{settings.host}:{settings.port}"
    last = {"t": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last["t"] >= STAGE_LOG_EVERY_S or done == total:
            last["t"] = now
            log.info("demo %s: %d/%d", stage, done, total)

    try:
        _wait_for_api(base)
        print(
            f"\nRunning the promotional event ({actions:,} actions); watch it live at {base}/dashboard\n",
            file=sys.stderr,
            flush=True,
        )
        event = DemoEvent(
            base,
            actions=actions,
            admin_email=settings.admin_email,
            admin_password=settings.admin_password,
            progress=progress,
        )
        summary = event.run_event()
    except Exception as exc:  # the platform keeps serving; the event's failure is reported, not fatal
        log.exception("the promotional event failed: %s", exc)
        return
    print(
        "\n" + summary.render() + f"\n\nStill serving: {base}/dashboard{login_hint(settings)}\n",
        file=sys.stderr,
        flush=True,
    )


def start_demo_thread(settings: Settings, actions: int) -> threading.Thread:
    thread = threading.Thread(target=run_startup_demo, args=(settings, actions), name="loyalty-demo", daemon=True)
    thread.start()
    return thread
