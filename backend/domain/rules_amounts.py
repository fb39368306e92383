"""Money and token amounts at the boundary: integers or decimal strings with bounded precision, never floats."""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

MAX_DECIMALS = 18  # token decimals (every platform token has 18)
_DECIMAL_RE = re.compile(r"^(0|[1-9][0-9]{0,29})(\.[0-9]{1,18})?$")


def parse_decimal(value: Any, max_decimals: int = MAX_DECIMALS) -> Decimal:
    """A non-negative Decimal from an int or a plain decimal string; floats, exponents, NaN and signs refused."""
    if isinstance(value, (bool, float)):
        raise ValueError('send amounts as a decimal string (e.g. "12.50") or an integer, not a JSON float')
    if isinstance(value, int):
        if value < 0:
            raise ValueError("amount must not be negative")
        return Decimal(value)
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str) or not _DECIMAL_RE.match(value):
        raise ValueError('amount must be a non-negative decimal string like "12.50"')
    decimals = len(value.partition(".")[2])
    if decimals > max_decimals:
        raise ValueError(f"at most {max_decimals} decimal places")
    return Decimal(value)


def _money(value: Any) -> Decimal:
    return parse_decimal(value, 8)


# NOTE: str(Decimal) turns tiny amounts into "1E-18", which `parse_decimal` refuses when a stored definition is
# read back; JSON always carries the plain positional form.
_PLAIN = PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json")
_SCHEMA = {"anyOf": [{"type": "string", "pattern": _DECIMAL_RE.pattern}, {"type": "integer", "minimum": 0}]}
# Currency amounts (purchase totals): up to 8 decimals.
Money = Annotated[Decimal, BeforeValidator(_money), _PLAIN, WithJsonSchema(_SCHEMA)]
# Token amounts in rules: whole tokens with up to 18 decimals (the token's precision).
TokenAmount = Annotated[Decimal, BeforeValidator(parse_decimal), _PLAIN, WithJsonSchema(_SCHEMA)]


def to_base_units(tokens: Decimal, decimals: int = MAX_DECIMALS) -> int:
    """Whole tokens → base units, rounding down anything below the token's precision."""
    return int((tokens * (Decimal(10) ** decimals)).to_integral_value(rounding=ROUND_FLOOR))


def from_base_units(amount: int, decimals: int = MAX_DECIMALS) -> str:
    """Base units → a decimal string of whole tokens without trailing zeros (for people, never for math)."""
    whole, frac = divmod(amount, 10**decimals)
    frac_s = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{frac_s}" if frac_s else str(whole)


def quantize(value: Decimal, step: Decimal, mode: str) -> Decimal:
    """Round `value` to a multiple of `step` (floor or half_up)."""
    rounding = ROUND_FLOOR if mode == "floor" else ROUND_HALF_UP
    return (value / step).to_integral_value(rounding=rounding) * step
