"""Money and token amounts at the boundary: integers or decimal strings with bounded precision, never floats."""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from backend.errors import InvalidInput

MAX_DECIMALS = 18  # token decimals (every platform token has 18)
# NOTE: `batchMint` packs each entry's amount into 96 bits (LoyaltyToken's `_AMOUNT_MASK`): no credit, rule
# amount, reward or offer cost may exceed it, or the credit could never be minted.
MAX_TOKEN_UNITS = 2**96 - 1
MAX_WHOLE_DIGITS = 30  # digits before the point of a decimal string (budgets and caps are totals)
_DECIMAL_RE = re.compile(rf"^(0|[1-9][0-9]{{0,{MAX_WHOLE_DIGITS - 1}}})(\.[0-9]{{1,18}})?$")
# Action amounts: any number of digits is *well-formed*; its size is refused per action (`check_amount`), so one
# oversized amount in `POST /v1/actions:batch` fails that action only.
_ACTION_AMOUNT_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{1,8})?$")


class AmountOutOfRange(InvalidInput):
    code = "amount-out-of-range"
    title = "Amount outside the token's range"


def check_units(units: int, what: str) -> int:
    """`units` base units if one mint entry can carry them (0..2^96-1), else `AmountOutOfRange` (422)."""
    if not 0 <= units <= MAX_TOKEN_UNITS:
        raise AmountOutOfRange(
            f"{what} must be at most {from_base_units(MAX_TOKEN_UNITS)} tokens ({MAX_TOKEN_UNITS} base units)"
        )
    return units


def check_tokens(tokens: Decimal, what: str, decimals: int = MAX_DECIMALS) -> int:
    """Whole tokens → base units, refused (422) beyond what one mint entry can carry."""
    return check_units(to_base_units(tokens, decimals), what)


def check_amount(value: Decimal | None, what: str = "amount") -> None:
    """A currency amount (purchase, refund) is at most 2^96-1, like any amount of the platform's tokens."""
    if value is not None and value > MAX_TOKEN_UNITS:
        raise AmountOutOfRange(f"{what} must be at most {MAX_TOKEN_UNITS}")


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


def _action_amount(value: Any) -> Decimal:
    if isinstance(value, str) and _ACTION_AMOUNT_RE.match(value):
        return Decimal(value)  # size checked per action (`check_amount`)
    return parse_decimal(value, 8)


# NOTE: str(Decimal) turns tiny amounts into "1E-18", which `parse_decimal` refuses when a stored definition is
# read back; JSON always carries the plain positional form.
_PLAIN = PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json")
_SCHEMA = {"anyOf": [{"type": "string", "pattern": _DECIMAL_RE.pattern}, {"type": "integer", "minimum": 0}]}
# Currency amounts (purchase totals): up to 8 decimals.
Money = Annotated[Decimal, BeforeValidator(_money), _PLAIN, WithJsonSchema(_SCHEMA)]
# Currency amounts of actions: well-formed like `Money`, of any size (refused per action when out of range).
_ACTION_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": _ACTION_AMOUNT_RE.pattern}, {"type": "integer", "minimum": 0}],
    "description": f"at most {MAX_TOKEN_UNITS} (larger: 422 amount-out-of-range for that action)",
}
ActionAmount = Annotated[Decimal, BeforeValidator(_action_amount), _PLAIN, WithJsonSchema(_ACTION_SCHEMA)]
# Token amounts in rules: whole tokens with up to 18 decimals (the token's precision).
TokenAmount = Annotated[Decimal, BeforeValidator(parse_decimal), _PLAIN, WithJsonSchema(_SCHEMA)]


def to_base_units(tokens: Decimal, decimals: int = MAX_DECIMALS) -> int:
    """Whole tokens → base units, rounding down anything below the token's precision."""
    # NOTE: exact: the default context keeps 28 significant digits, and 2^96-1 base units already has 29.
    digits = max(len(tokens.as_tuple().digits), 1) + decimals + 2
    with localcontext(prec=max(digits, 28)):
        return int(tokens.scaleb(decimals).to_integral_value(rounding=ROUND_FLOOR))


def from_base_units(amount: int, decimals: int = MAX_DECIMALS) -> str:
    """Base units → a decimal string of whole tokens without trailing zeros (for people, never for math)."""
    whole, frac = divmod(amount, 10**decimals)
    frac_s = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{frac_s}" if frac_s else str(whole)


def quantize(value: Decimal, step: Decimal, mode: str) -> Decimal:
    """Round `value` to a multiple of `step` (floor or half_up)."""
    rounding = ROUND_FLOOR if mode == "floor" else ROUND_HALF_UP
    return (value / step).to_integral_value(rounding=rounding) * step
