"""What a brand may send as an action: strict amounts, checksummed non-zero wallets, type-specific fields."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import to_checksum_address
from pydantic import ValidationError

from backend.domain.actions import ActionIn

WALLET = "0x" + "ab" * 20
BASE = {
    "idempotency_key": "k1",
    "type": "purchase",
    "wallet": WALLET,
    "order_id": "o1",
    "amount": "12.50",
    "currency": "EUR",
}


def test_wallet_is_checksummed_and_same_body_hashes_alike() -> None:
    one = ActionIn.model_validate(BASE)
    two = ActionIn.model_validate({**BASE, "wallet": WALLET.upper().replace("0X", "0x"), "amount": "12.5"})
    assert one.wallet == to_checksum_address(WALLET)
    assert one.wallet == two.wallet
    assert one.body_hash() == two.body_hash()
    assert one.body_hash() != ActionIn.model_validate({**BASE, "amount": "12.51"}).body_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"wallet": "0x" + "0" * 40},
        {"wallet": "0x123"},
        {"wallet": "not an address"},
        {"wallet": "0x" + "zz" * 20},
        {"amount": 12.5},
        {"amount": "1e3"},
        {"amount": "-1"},
        {"amount": "0"},
        {"amount": "NaN"},
        {"amount": "1.123456789"},  # more than 8 decimals for a currency amount
        {"currency": "eur"},
        {"type": "teleport"},
        {"extra": 1},
        {"order_id": None},
        {"idempotency_key": ""},
        {"idempotency_key": "x" * 201},
    ],
)
def test_bad_actions_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ActionIn.model_validate({**BASE, **change})


def test_type_specific_fields() -> None:
    with pytest.raises(ValidationError):
        ActionIn.model_validate({"idempotency_key": "r", "type": "referral", "wallet": WALLET})
    with pytest.raises(ValidationError):
        ActionIn.model_validate({"idempotency_key": "r", "type": "custom", "wallet": WALLET})
    ok = ActionIn.model_validate({"idempotency_key": "r", "type": "refund", "wallet": WALLET, "order_id": "o1"})
    assert ok.amount is None
