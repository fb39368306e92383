"""QR payload format: compact, verifiable, tamper-evident, rotatable."""

from __future__ import annotations

import base64

import pytest
import qrcode
from hypothesis import given
from hypothesis import strategies as st

from backend.domain import qr as codec

RING = codec.QrKeyring("current-secret-0123456789")
KEY = RING.signing_key()
PAYLOAD = codec.QrPayload(campaign_id=42, serial=7, expires_at=1_900_000_000, key_id=RING.current_id)


def test_code_round_trips_and_is_short_uppercase_base32() -> None:
    code = codec.encode(PAYLOAD, KEY)
    assert len(code) == codec.CODE_CHARS == 37
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert codec.decode(code, RING) == PAYLOAD
    assert PAYLOAD.nonce == "qr:42:7"


def test_code_fits_a_version_2_qr_symbol_in_alphanumeric_mode() -> None:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(codec.encode(PAYLOAD, KEY))
    qr.make(fit=True)
    assert qr.version == 2


@given(
    campaign=st.integers(0, codec.MAX_U32),
    serial=st.integers(0, codec.MAX_U32),
    expiry=st.integers(0, codec.MAX_U32),
)
def test_any_payload_round_trips(campaign: int, serial: int, expiry: int) -> None:
    payload = codec.QrPayload(campaign, serial, expiry, RING.current_id)
    assert codec.decode(codec.encode(payload, KEY), RING) == payload


def test_bulk_signing_matches_single_signing() -> None:
    many = codec.encode_many(42, range(1, 51), 1_900_000_000, RING.current_id, KEY)
    assert len(set(many)) == 50
    assert many[6] == codec.encode(PAYLOAD, KEY)


@pytest.mark.parametrize("position", [0, 5, 20, 30, 36])
def test_any_changed_character_is_refused(position: int) -> None:
    code = codec.encode(PAYLOAD, KEY)
    swapped = "B" if code[position] != "B" else "C"
    tampered = code[:position] + swapped + code[position + 1 :]
    with pytest.raises(codec.QrCodeError):
        codec.decode(tampered, RING)


def test_code_signed_with_another_key_is_forged() -> None:
    other = codec.QrKeyring("attacker-secret-abcdefghijk")
    forged = codec.encode(codec.QrPayload(42, 7, 1_900_000_000, RING.current_id), other.signing_key())
    with pytest.raises(codec.ForgedCode):
        codec.decode(forged, RING)


def test_payload_edited_without_the_key_is_forged() -> None:
    blob = bytearray(base64.b32decode(codec.encode(PAYLOAD, KEY) + "==="))
    blob[8] ^= 0x01  # serial 7 -> 6, tag unchanged
    with pytest.raises(codec.ForgedCode):
        codec.decode(base64.b32encode(bytes(blob)).decode().rstrip("="), RING)


@pytest.mark.parametrize("raw", ["", "hello", "A" * 36, "A" * 38, "1" * 37, "!" * 37])
def test_garbage_is_malformed(raw: str) -> None:
    with pytest.raises(codec.MalformedCode):
        codec.decode(raw, RING)


def test_each_code_has_exactly_one_spelling() -> None:
    code = codec.encode(PAYLOAD, KEY)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    variant = code[:-1] + alphabet[alphabet.index(code[-1]) ^ 1]  # flips the unused last bit
    with pytest.raises(codec.MalformedCode):
        codec.decode(variant, RING)


def test_unknown_version_is_malformed() -> None:
    blob = bytearray(base64.b32decode(codec.encode(PAYLOAD, KEY) + "==="))
    blob[0] = (2 << 4) | (blob[0] & 0x0F)
    with pytest.raises(codec.MalformedCode):
        codec.decode(base64.b32encode(bytes(blob)).decode().rstrip("="), RING)


def test_scanned_links_and_lower_case_are_accepted() -> None:
    code = codec.encode(PAYLOAD, KEY)
    assert codec.decode(f"https://shop.example/q/{code.lower()}/ ", RING) == PAYLOAD


def test_rotation_keeps_old_codes_valid_until_the_old_key_is_dropped() -> None:
    old = codec.QrKeyring("old-secret-aaaaaaaaaaaaaaaa")
    old_code = codec.encode(codec.QrPayload(1, 1, 1_900_000_000, old.current_id), old.signing_key())
    rotated = codec.QrKeyring("new-secret-bbbbbbbbbbbbbbbb", retired=["old-secret-aaaaaaaaaaaaaaaa"])
    assert codec.decode(old_code, rotated).campaign_id == 1
    with pytest.raises(codec.ForgedCode):
        codec.decode(old_code, codec.QrKeyring("new-secret-bbbbbbbbbbbbbbbb"))
