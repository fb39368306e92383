"""Turn revert data into `Name(args)` using the custom errors of our contracts' ABIs, and find revert data that
some nodes only put in an error message (the relayer's tracker and the redemption settlement both read it here)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector

from backend.errors import ConfigurationError

STANDARD_ERRORS: list[dict[str, Any]] = [
    {"type": "error", "name": "Error", "inputs": [{"type": "string", "name": "reason"}]},
    {"type": "error", "name": "Panic", "inputs": [{"type": "uint256", "name": "code"}]},
]


def _signature(item: dict[str, Any]) -> str:
    def type_of(param: dict[str, Any]) -> str:
        if param["type"].startswith("tuple"):
            return "(" + ",".join(type_of(c) for c in param["components"]) + ")" + param["type"][5:]
        return str(param["type"])

    return f"{item['name']}({','.join(type_of(p) for p in item.get('inputs', []))})"


def _format(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_format(v) for v in value) + ")"
    if isinstance(value, str) and not value.startswith("0x"):
        return repr(value)
    return str(value)


class RevertDecoder:
    def __init__(self, abis: Iterable[list[dict[str, Any]]] = ()) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in [STANDARD_ERRORS, *abis]:
            for item in abi:
                if item.get("type") == "error":
                    signature = _signature(item)
                    types = signature[len(item["name"]) + 1 : -1]
                    self._errors[function_signature_to_4byte_selector(signature)] = (
                        item["name"],
                        [t for t in _split_types(types)],
                    )

    @classmethod
    def for_platform(cls) -> RevertDecoder:
        """Errors of LoyaltyToken, LoyaltyTokenFactory and LoyaltyMinter (whichever artifacts exist)."""
        from backend.adapters.chain.artifacts import load_artifact

        abis = []
        for name in ("LoyaltyToken", "LoyaltyTokenFactory", "LoyaltyMinter"):
            try:
                abis.append(load_artifact(name).abi)
            except ConfigurationError:
                continue
        return cls(abis)

    def decode(self, data: bytes | str | None) -> str:
        """`EnforcedPause()`, `ERC20ExceededCap(1001, 1000)`, `Error('text')`, or the raw selector when unknown."""
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        if not data:
            return "reverted without data"
        known = self._errors.get(data[:4])
        if known is None:
            return f"unknown error 0x{data[:4].hex()} (data 0x{data.hex()[:200]})"
        name, types = known
        try:
            args = decode(types, data[4:]) if types else ()
        except Exception:
            return f"{name}(<undecodable 0x{data[4:].hex()[:120]}>)"
        return f"{name}({', '.join(_format(a) for a in args)})"


def _split_types(types: str) -> list[str]:
    """Split a comma-separated ABI type list, keeping tuples together."""
    out, depth, current = [], 0, ""
    for ch in types:
        if ch == "," and depth == 0:
            out.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    if current:
        out.append(current)
    return out


def revert_data_in_message(message: str) -> bytes | str | None:
    """Revert data some nodes only put in the message: eth-tester's `b'...'` repr, or a trailing 0x-hex word.

    NOTE: a stored error text may be cut short inside the bytes literal (`b'\\xe4P...`); the complete escapes
    before the cut still give the 4-byte selector, which is enough to name the error.
    """
    literal = re.search(r"b(['\"]).*\1\s*$", message)
    if literal:
        return _bytes_literal(literal.group(0))
    hexdata = re.search(r"0x[0-9a-fA-F]{8,}\s*$", message)
    if hexdata:
        return hexdata.group(0).strip()
    start = message.find("b'")
    if start < 0:
        return None
    text = message[start:]
    end = text.find("'", 2)
    text = text[: end + 1] if end > 0 else re.sub(r"\\(x[0-9a-fA-F]?)?$", "", text) + "'"
    return _bytes_literal(text)


def _bytes_literal(text: str) -> bytes | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, bytes) else None
