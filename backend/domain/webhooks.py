"""Webhook payloads and their signature (pure: no I/O).

Every delivery is a POST with a JSON body (`event_body`) and the header

    Loyalty-Signature: t=1732350000,v1=5257a869e7ec...,v1=0fd3...

where `t` is the unix time of the attempt and each `v1` is the hex HMAC-SHA256, keyed with an endpoint secret
(`whsec_...`), of the bytes `f"{t}.".encode() + body` (Stripe's scheme). During a secret rotation's overlap window
the header carries one `v1` per live secret, so a receiver may keep either secret.

How a receiver verifies (any language; Python shown):

    t, sigs = parse "t=" and every "v1=" of the header
    expected = hmac.new(secret.encode(), f"{t}.".encode() + raw_body, hashlib.sha256).hexdigest()
    ok = any(hmac.compare_digest(expected, s) for s in sigs) and abs(time.time() - int(t)) <= 300

Use the raw request bytes (never re-serialised JSON), compare in constant time, and reject old timestamps to
stop replays; deliveries are at least once, so de-duplicate on the body's `id` (the event id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "Loyalty-Signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The header is malformed, no signature matches, or the timestamp is outside the tolerance."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def event_body(event_id: int, event_type: str, brand_id: int, created_at: datetime, data: dict[str, Any]) -> bytes:
    """The bytes POSTed to receivers: compact, sorted JSON (stable across retries of one event)."""
    document = {
        "id": event_id,
        "type": event_type,
        "brand_id": brand_id,
        "created_at": created_at.isoformat(),
        "data": data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets_)])


@dataclass(frozen=True)
class ParsedSignature:
    timestamp: int
    signatures: tuple[str, ...]


def parse_header(header: str) -> ParsedSignature:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("expected t=<unix time>,v1=<hex hmac>")
    return ParsedSignature(timestamp, tuple(signatures))


def verify(header: str, body: bytes, secret: str, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S) -> int:
    """The signed timestamp if one `v1` matches `secret` within the tolerance; `SignatureError` otherwise."""
    parsed = parse_header(header)
    expected = sign(secret, parsed.timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in parsed.signatures):
        raise SignatureError("no signature matches this secret")
    if abs(now - parsed.timestamp) > tolerance_s:
        raise SignatureError(f"timestamp {parsed.timestamp} is more than {tolerance_s}s away from now")
    return parsed.timestamp


def check_url(url: str) -> str:
    """A receiver URL: http(s), a host, no credentials or fragment (ValueError otherwise)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("webhook URLs must be http or https")
    if not parts.hostname:
        raise ValueError("webhook URLs need a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("webhook URLs must not carry credentials; verify the signature instead")
    if parts.fragment:
        raise ValueError("webhook URLs must not have a fragment")
    try:
        parts.port  # noqa: B018 - raises on an invalid port
    except ValueError as exc:
        raise ValueError("invalid port in webhook URL") from exc
    return url


def backoff_s(attempt: int, base_s: float, max_s: float, jitter: float) -> float:
    """Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, scaled by `jitter` ∈ [0, 1) into [½, 1]×."""
    delay = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return delay * (0.5 + jitter / 2)
