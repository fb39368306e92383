"""Signed single-use QR codes: the compact payload format, signing and verification (pure, no I/O).

Why HMAC-SHA256 (and not Ed25519 or EIP-712): only this server ever verifies a code, so nobody needs a public
key; a MAC tag is the shortest authenticator (10 bytes here against 64 for Ed25519 or 65 for an EIP-712
signature), which keeps the QR at version 2 (25×25 modules) and printable small; it costs a microsecond per
code, so 100,000 codes sign in well under a second. A key id in the payload allows rotation: new campaigns sign
with the current key while codes from a retired key keep verifying until that key is dropped from the keyring.

Payload (23 bytes, big-endian), written as unpadded RFC 4648 base32 — 37 characters of `A-Z2-7`, all inside the
QR *alphanumeric* mode (5.5 bits per character instead of 8 in byte mode):

    version:4 | key_id:4 | campaign_id:u32 | serial:u32 | expires_at:u32 (unix s) | tag:10 bytes

`serial` is the code's nonce: its number within the campaign (1..N). Codes are derived, not stored, so a
campaign of N codes is one row; the claim table's unique (campaign_id, serial) is what makes each single-use.
The tag is HMAC-SHA256(key, first 13 bytes) truncated to 80 bits (NIST SP 800-107 allows truncation; every guess
costs an online request, so 2^-80 per guess is ample).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

VERSION = 1
TAG_BYTES = 10
_BODY = struct.Struct(">BIII")  # version|key_id, campaign_id, serial, expires_at
PAYLOAD_BYTES = _BODY.size + TAG_BYTES
CODE_CHARS = -(-PAYLOAD_BYTES * 8 // 5)  # 37
MAX_U32 = 2**32 - 1


class QrCodeError(ValueError):
    """A code that cannot be accepted; `kind` says why (the service maps it to a problem code)."""

    kind = "malformed"


class MalformedCode(QrCodeError):
    kind = "malformed"


class ForgedCode(QrCodeError):
    kind = "forged"


@dataclass(frozen=True, slots=True)
class QrPayload:
    campaign_id: int
    serial: int
    expires_at: int  # unix seconds, UTC
    key_id: int = 0

    @property
    def nonce(self) -> str:
        """The code's single-use identity (also the idempotency key of the action it earns)."""
        return f"qr:{self.campaign_id}:{self.serial}"


def key_id_for(secret: str) -> int:
    """A 4-bit key id derived from the key itself, so operators only ever configure secrets."""
    return hashlib.sha256(secret.encode()).digest()[0] & 0x0F


class QrKeyring:
    """The current signing key plus retired keys that still verify (rotation)."""

    def __init__(self, current: str, retired: Iterable[str] = ()) -> None:
        if not current:
            raise ValueError("the QR signing key must not be empty")
        self.current_id = key_id_for(current)
        self._keys: dict[int, list[bytes]] = {}
        for secret in (current, *[s for s in retired if s]):
            self._keys.setdefault(key_id_for(secret), []).append(secret.encode())

    def signing_key(self, key_id: int | None = None) -> bytes:
        """The key that signs codes with `key_id` (the current key when None); KeyError if retired away."""
        kid = self.current_id if key_id is None else key_id
        return self._keys[kid][0]

    def candidates(self, key_id: int) -> list[bytes]:
        return self._keys.get(key_id, [])

    @property
    def key_ids(self) -> Mapping[int, list[bytes]]:
        return self._keys


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]


def encode(payload: QrPayload, key: bytes) -> str:
    """Sign `payload` with `key` and return the printable code."""
    for name in ("campaign_id", "serial", "expires_at"):
        value = getattr(payload, name)
        if not 0 <= value <= MAX_U32:
            raise ValueError(f"{name} out of range: {value}")
    if not 0 <= payload.key_id <= 0x0F:
        raise ValueError(f"key_id out of range: {payload.key_id}")
    body = _BODY.pack((VERSION << 4) | payload.key_id, payload.campaign_id, payload.serial, payload.expires_at)
    return base64.b32encode(body + _tag(key, body)).decode().rstrip("=")


def encode_many(campaign_id: int, serials: range, expires_at: int, key_id: int, key: bytes) -> list[str]:
    """Sign a run of serials fast (one HMAC object copied per code instead of re-keyed)."""
    base = hmac.new(key, digestmod=hashlib.sha256)
    head = (VERSION << 4) | key_id
    pack, b32, out = _BODY.pack, base64.b32encode, []
    for serial in serials:
        body = pack(head, campaign_id, serial, expires_at)
        mac = base.copy()
        mac.update(body)
        out.append(b32(body + mac.digest()[:TAG_BYTES]).decode().rstrip("="))
    return out


def normalize(raw: str) -> str:
    """Accept what scanners hand over: surrounding spaces, lower case, a link whose last segment is the code."""
    text = raw.strip()
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return text.upper()


def decode(raw: str, keyring: QrKeyring) -> QrPayload:
    """Parse and verify a code; raises MalformedCode or ForgedCode. Expiry is the caller's check (needs a clock)."""
    text = normalize(raw)
    if len(text) != CODE_CHARS:
        raise MalformedCode(f"a QR code has {CODE_CHARS} characters, got {len(text)}")
    try:
        blob = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise MalformedCode("not a base32 QR code") from exc
    if base64.b32encode(blob).decode().rstrip("=") != text:  # a spare bit set: one code, one spelling
        raise MalformedCode("not a canonical QR code")
    body, tag = blob[: _BODY.size], blob[_BODY.size :]
    head, campaign_id, serial, expires_at = _BODY.unpack(body)
    if head >> 4 != VERSION:
        raise MalformedCode(f"unsupported QR code version {head >> 4}")
    key_id = head & 0x0F
    # NOTE: compare_digest against every key with this id keeps verification constant-time per key.
    if not any(hmac.compare_digest(_tag(key, body), tag) for key in keyring.candidates(key_id)):
        raise ForgedCode("the QR code's signature does not verify")
    return QrPayload(campaign_id=campaign_id, serial=serial, expires_at=expires_at, key_id=key_id)
