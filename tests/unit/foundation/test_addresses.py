"""The one address parser: EIP-55 checksums are enforced for mixed case, unchecked single case is checksummed."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from backend.domain.addresses import InvalidAddress, InvalidAddressChecksum, parse_address

# EIP-55's test vectors
VECTORS = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", VECTORS)
def test_checksummed_lower_and_upper_are_accepted(address: str) -> None:
    assert parse_address(address) == address
    assert parse_address(address.lower()) == address
    assert parse_address("0x" + address[2:].upper()) == address
    assert parse_address(address.lower()) == to_checksum_address(address.lower())


@pytest.mark.parametrize("address", VECTORS)
def test_one_letter_in_the_wrong_case_is_a_checksum_error(address: str) -> None:
    i = next(i for i, c in enumerate(address) if i >= 2 and c.isalpha())
    typo = address[:i] + address[i].swapcase() + address[i + 1 :]
    with pytest.raises(InvalidAddressChecksum):
        parse_address(typo)


@pytest.mark.parametrize(
    "value",
    [
        VECTORS[0][2:],
        "0x" + "0" * 40,
        "0x1234",
        "0X" + VECTORS[0][2:],
        VECTORS[0] + "0",
        "0x" + "g" * 40,
        "",
        "0x" * 10**5,
    ],
)
def test_anything_else_is_an_invalid_address(value: str) -> None:
    with pytest.raises(InvalidAddress) as raised:
        parse_address(value)
    assert raised.type is InvalidAddress
