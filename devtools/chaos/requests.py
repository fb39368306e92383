"""HTTP under faults: retries on lost connections and back-pressure, and the problem code of an answer."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def request_with_retries(
    http: httpx.Client,
    method: str,
    path: str,
    lock: threading.Lock,
    statuses: Counter[int],
    *,
    attempts: int = 10,
    **kw: Any,
) -> tuple[httpx.Response, bool]:
    """A request retried (same body, so same idempotency key) on lost connections and back-pressure (429/503);
    the final status is tallied. Returns (response, whether it was retried)."""
    retried = False
    for attempt in range(attempts):
        try:
            r = http.request(method, path, **kw)
        except httpx.TransportError:  # an API worker was killed mid-request
            retried = True
            time.sleep(0.25 * (attempt + 1))
            continue
        if r.status_code in (429, 503):  # back-pressure is allowed; retry the same request
            retried = True
            time.sleep(0.4)
            continue
        with lock:
            statuses[r.status_code] += 1
        return r, retried
    raise RuntimeError(f"API unreachable: {method} {path}")


def problem_code(r: httpx.Response) -> str | None:
    if not r.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return None
    try:
        return str(r.json().get("code"))
    except ValueError:
        return None
