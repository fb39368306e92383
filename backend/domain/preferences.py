"""A shopper's `preferences`: free-form JSON the shopper owns, bounded so it can always be stored and shown again.

NOTE: unbounded, 1,000 nested levels were stored, then every read of the profile and the GDPR export of the wallet
answered 500 (the response encoder refuses such depth) until the shopper overwrote them.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 4  # the preferences object itself is level 1
MAX_ITEMS = 64  # keys of one object, items of one list
MAX_KEY_CHARS = 64
MAX_STRING_CHARS = 512
MAX_BYTES = 8_192  # the whole document as compact JSON
SAFE_INTEGER = 2**53 - 1  # what JavaScript clients read exactly


def check_preferences(value: dict[str, Any]) -> dict[str, Any]:
    """`value` if it is within every bound (ValueError naming the first one broken)."""
    _check(value, 1, "preferences")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_BYTES:
        raise ValueError(f"preferences are at most {MAX_BYTES} bytes of JSON (these are {size})")
    return value


def _check(value: Any, depth: int, where: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > SAFE_INTEGER:
            raise ValueError(f"{where}: integers are at most 2^53 - 1 in magnitude")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: numbers must be finite")
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise ValueError(f"{where}: strings are at most {MAX_STRING_CHARS} characters")
        return
    if not isinstance(value, dict | list):
        raise ValueError(f"{where}: only JSON values (objects, lists, strings, numbers, booleans, null)")
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: preferences nest at most {MAX_DEPTH} levels deep")
    if len(value) > MAX_ITEMS:
        raise ValueError(f"{where}: at most {MAX_ITEMS} keys or items")
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, depth + 1, f"{where}[{index}]")
        return
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS:
            raise ValueError(f"{where}: keys are strings of 1 to {MAX_KEY_CHARS} characters")
        _check(item, depth + 1, f"{where}.{key}")


def readable_preferences(value: Any) -> dict[str, Any]:
    """Stored preferences as the profile shows them: `{}` for a document stored before the bounds existed.

    NOTE: such a document cannot be encoded in an answer; the GDPR export still carries it (as JSON text) and the
    shopper's next update replaces it.
    """
    if not isinstance(value, dict):
        return {}
    try:
        return check_preferences(value)
    except (ValueError, RecursionError):
        return {}
