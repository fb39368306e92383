"""Webhook signatures: what a receiver computes from the raw body must match, and only that."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from backend.domain.webhooks import (
    SignatureError,
    backoff_s,
    check_url,
    event_body,
    new_secret,
    parse_header,
    signature_header,
    verify,
)

NOW = 1_800_000_000
BODY = event_body(7, "action.credited", 3, datetime(2026, 11, 23, tzinfo=UTC), {"amount": "1"})


def test_a_receiver_following_the_docstring_recipe_accepts_the_signature() -> None:
    secret = new_secret()
    header = signature_header([secret], NOW, BODY)
    parsed = parse_header(header)
    expected = hmac.new(secret.encode(), f"{parsed.timestamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert parsed.timestamp == NOW and parsed.signatures == (expected,)
    assert verify(header, BODY, secret, now=NOW + 10) == NOW


def test_tampered_body_wrong_secret_and_stale_timestamps_are_refused() -> None:
    secret = new_secret()
    header = signature_header([secret], NOW, BODY)
    with pytest.raises(SignatureError):
        verify(header, BODY.replace(b'"1"', b'"9"'), secret, now=NOW)
    with pytest.raises(SignatureError):
        verify(header, BODY, new_secret(), now=NOW)
    with pytest.raises(SignatureError):
        verify(header, BODY, secret, now=NOW + 301)  # replayed later
    with pytest.raises(SignatureError):
        verify("v1=abc", BODY, secret, now=NOW)


def test_rotation_header_verifies_with_either_secret() -> None:
    old, new = new_secret(), new_secret()
    header = signature_header([new, old], NOW, BODY)
    assert header.count("v1=") == 2
    assert verify(header, BODY, old, now=NOW) == verify(header, BODY, new, now=NOW) == NOW


def test_body_is_stable_json() -> None:
    again = event_body(7, "action.credited", 3, datetime(2026, 11, 23, tzinfo=UTC), {"amount": "1"})
    assert again == BODY and b" " not in BODY


@pytest.mark.parametrize(
    "url", ["ftp://x.example/h", "https://u:p@x.example/h", "https://x.example/h#frag", "http://", "https://x:99999/"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        check_url(url)


def test_good_url() -> None:
    assert check_url("https://hooks.example.com:8443/loyalty?x=1") == "https://hooks.example.com:8443/loyalty?x=1"


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    delays = [backoff_s(n, 10, 3600, 0.999) for n in range(1, 12)]
    assert delays[0] == pytest.approx(10, rel=0.01) and delays[1] == pytest.approx(20, rel=0.01)
    assert max(delays) <= 3600
    assert backoff_s(3, 10, 3600, 0.0) == 20  # jitter never below half
