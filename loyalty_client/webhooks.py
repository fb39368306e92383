"""Verifying the platform's webhook deliveries (`Loyalty-Signature: t=<unix time>,v1=<hex HMAC-SHA256>,...`).

The scheme is the platform's own (`backend.domain.webhooks`): each `v1` is the HMAC-SHA256, keyed with the
endpoint's `whsec_...` secret, of `f"{t}.".encode() + raw_body`. Verify the raw request bytes, never re-serialised
JSON; deliveries are at least once, so de-duplicate on the event's `id`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from backend.domain.webhooks import DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, SignatureError, verify
from loyalty_client.errors import WebhookSignatureError

__all__ = ["SIGNATURE_HEADER", "verify_webhook"]


def verify_webhook(
    body: bytes,
    signature: str | Mapping[str, str],
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: int | None = None,
) -> dict[str, Any]:
    """The delivered event (decoded `body`) if `signature` (the header's value, or the request's headers) is
    valid for `secret` and not older than `tolerance_s`; `WebhookSignatureError` otherwise."""
    header = signature if isinstance(signature, str) else _header(signature)
    try:
        verify(header, body, secret, int(time.time()) if now is None else now, tolerance_s)
    except SignatureError as exc:
        raise WebhookSignatureError(str(exc)) from exc
    event: dict[str, Any] = json.loads(body)
    return event


def _header(headers: Mapping[str, str]) -> str:
    for name, value in headers.items():
        if name.lower() == SIGNATURE_HEADER.lower():
            return value
    raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header")
