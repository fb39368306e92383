"""EVM addresses as they enter the platform: one parser (EIP-55) and one pydantic type for every boundary.

Mixed case is an EIP-55 checksum and must match it: one letter typed in the wrong case means a typo somewhere in
the address, and tokens sent there are lost. All-lowercase or all-uppercase hex carries no checksum and is
accepted (then checksummed). `0x` is required; the zero address names nobody and is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, StrictStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from backend.domain.hashing import keccak
from backend.errors import InvalidInput

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
ZERO_ADDRESS = "0x" + "0" * 40
_SHAPE = re.compile(ADDRESS_PATTERN)
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")


class InvalidAddress(InvalidInput):
    code = "invalid-address"
    title = "Not a valid address"


class InvalidAddressChecksum(InvalidAddress):
    code = "invalid-address-checksum"
    title = "The address's letter case does not match its EIP-55 checksum"


def to_checksum(hex40: str) -> str:
    """The EIP-55 form of 40 hex digits (any case)."""
    body = hex40.lower()
    digest = keccak(body.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(body, digest, strict=False))


@lru_cache(maxsize=65_536)  # POS traffic repeats wallets; a checksum is a keccak per call
def parse_address(value: str) -> str:
    """The checksummed form of a non-zero `0x` address; mixed case must already be its checksum.

    Raises `InvalidAddressChecksum` for a mixed-case address whose case is wrong, `InvalidAddress` otherwise.
    """
    # NOTE: shape first (length and a regex, no hashing): any size of garbage is refused in microseconds.
    if not isinstance(value, str) or len(value) != 42 or not _SHAPE.match(value):
        if isinstance(value, str) and len(value) == 40 and _HEX40.match(value):
            raise InvalidAddress("an address starts with 0x (40 hex digits follow)")
        raise InvalidAddress("an address is 0x followed by 40 hex digits")
    body = value[2:]
    checksummed = to_checksum(body)
    if body != body.lower() and body != body.upper() and value != checksummed:
        raise InvalidAddressChecksum(
            "the address mixes upper and lower case but does not match its EIP-55 checksum: check it for a typo"
        )
    if checksummed == ZERO_ADDRESS:
        raise InvalidAddress("the zero address cannot be used")
    return checksummed


def _validated(value: str) -> str:
    try:
        return parse_address(value)
    except InvalidAddressChecksum as exc:
        # NOTE: the error type is mapped to the problem code in `backend.entrypoints.api.problems` (one place).
        raise PydanticCustomError("invalid_address_checksum", "{detail}", {"detail": exc.detail}) from None
    except InvalidAddress as exc:
        raise PydanticCustomError("invalid_address", "{detail}", {"detail": exc.detail}) from None


# Every address a client sends (body fields, path and query parameters) has this type.
Address = Annotated[
    StrictStr,
    AfterValidator(_validated),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": ADDRESS_PATTERN,
            "minLength": 42,
            "maxLength": 42,
            "description": "0x address; mixed case must match its EIP-55 checksum (all lower or upper: unchecked)",
            "examples": ["0x52908400098527886E0F7030069857D2E4169EE7"],
        }
    ),
]
