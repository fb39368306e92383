"""The nesting scan behind `json-too-deep`: brackets inside strings and escapes do not count."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from backend.domain.json_nesting import json_depth


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"", 0),
        (b'"no brackets"', 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": "[[[["}]}', 3),
        (b'["\\"[[[", "x"]', 1),  # an escaped quote does not end the string
        (b'["\\\\", [[]]]', 3),  # an escaped backslash does not escape the quote after it
        (b'["\\\\\\"[[[", "x"]', 1),
        (b'["[", "]", ["a"]]', 2),
        (b"[" * 100_000, 100_000),  # unclosed: the parser would recurse as deep
        (b'"[[[[', 0),  # an unterminated string
    ],
)
def test_depth(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def _reference(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_reference(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_reference(v) for v in value.values()), default=0)
    return 0


def _random(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 6 or roll < 0.3:
        return rng.choice(["[", "]", "{", "}", '"', "\\", '\\"[', "]\\\\", "é[", 1, None])
    if roll < 0.65:
        return [_random(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["k[", '"]', "\\"]) + str(i): _random(rng, depth + 1) for i in range(rng.randint(0, 3))}


def test_agrees_with_the_parsed_document_on_random_json() -> None:
    rng = random.Random(12)
    for _ in range(3_000):
        value = _random(rng, 0)
        body = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        assert json_depth(body) == _reference(value), body
