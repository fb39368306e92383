"""How deep a JSON text nests, without parsing it: linear, in C (no regular expression, nothing to backtrack).

Escaped backslashes and quotes are dropped, everything but quotes and brackets is deleted, the pieces between quotes
(string contents) are cut out, and the deepest point is a running sum over the brackets left.
"""

from __future__ import annotations

from itertools import accumulate

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_DELTA = [0] * 256
_DELTA[ord("[")] = _DELTA[ord("{")] = 1
_DELTA[ord("]")] = _DELTA[ord("}")] = -1


def json_depth(body: bytes) -> int:
    """How deep `[`/`{` nest outside strings (an upper bound of what a JSON parser would recurse)."""
    if body.count(b"[") + body.count(b"{") == 0:
        return 0
    # NOTE: `\\` first, so `\\"` keeps its closing quote; a backslash is only valid inside a string.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Two adjacent quotes delimit no bracket and keep every other quote's parity: drop them before splitting.
    structure = unescaped.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = b"".join(structure.split(b'"')[::2]) if b'"' in structure else structure
    return max(0, max(accumulate(map(_DELTA.__getitem__, brackets)), default=0))
