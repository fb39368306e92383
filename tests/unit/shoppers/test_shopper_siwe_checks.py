"""SIWE message checks (no database): each way a sign-in can be wrong has its own problem code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.errors import LoyaltyError
from backend.services.shoppers import siwe
from loyalty_client import Wallet

DOMAIN, CHAIN = "127.0.0.1:8000", 31337
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ACCOUNT = Wallet.from_key("0x" + "11" * 32)


def message(
    *, domain: str = DOMAIN, chain: int = CHAIN, address: str = ACCOUNT.address, expires: datetime | None = None
) -> str:
    issued = datetime(2026, 1, 1, 11, 59, tzinfo=UTC)
    return siwe.message_text(domain, address, chain, "abcdef0123456789", issued_at=issued, expiration=expires)


def sign(text: str, wallet: Wallet = ACCOUNT) -> str:
    return wallet.sign_text(text)


def check(text: str, signature: str | None = None) -> str:
    parsed = siwe.check_message(text, signature or sign(text), domain=DOMAIN, chain_id=CHAIN, now=NOW)
    return str(parsed.address)


def code_of(text: str, signature: str | None = None) -> str:
    with pytest.raises(LoyaltyError) as caught:
        check(text, signature)
    return caught.value.code


def test_a_well_formed_message_signed_by_its_address_passes() -> None:
    assert check(message(expires=NOW + timedelta(minutes=5))) == ACCOUNT.address


def test_each_refusal_has_its_own_code() -> None:
    assert code_of("hello, sign me in") == "siwe-malformed"
    assert code_of(message(address=ACCOUNT.address.lower())) == "siwe-malformed"  # EIP-55 required
    assert code_of(message(domain="evil.example")) == "siwe-wrong-domain"
    assert code_of(message(chain=1)) == "siwe-wrong-chain"
    assert code_of(message(expires=NOW - timedelta(seconds=1))) == "siwe-expired"
    other = Wallet.from_key("0x" + "22" * 32)
    assert code_of(message(), sign(message(), other)) == "siwe-bad-signature"
    assert code_of(message(), "0x" + "00" * 65) == "siwe-bad-signature"


def test_a_signature_over_another_text_does_not_sign_this_one() -> None:
    assert code_of(message(), sign(message(chain=CHAIN) + "\nResources:")) == "siwe-bad-signature"
