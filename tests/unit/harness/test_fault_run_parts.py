"""The fault run's pure parts (no processes): the seeded plan, forged QR codes, refusals judged, tracebacks kept."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx

from devtools.chaos.load import judge_qr
from devtools.chaos.plan import Item, build_plan, forge, make_shoppers
from devtools.chaos.tally import QrTally
from devtools.processes import distinct_tracebacks

CODE = "AEAAAAABAAAAAQ2JTRT6OZPQHXUMXQ2ZHKXLXV5A"


def _brands() -> list[dict[str, Any]]:
    return [{"id": n, "headers": {}, "qr_live": [CODE], "qr_expiring": [CODE]} for n in (1, 2)]


def _plan(seed: int) -> tuple[list[Item], list[Item]]:
    brands = _brands()
    shoppers = make_shoppers(brands, 4, random.Random(seed))
    return build_plan(brands, 400, random.Random(seed), "run1", shoppers, bulk_share=0.3)


def test_the_plan_is_the_seeds_and_has_every_kind_of_request() -> None:
    first, later = _plan(3)
    assert (first, later) == _plan(3)
    kinds = Counter(kind for kind, _, _ in first + later)
    assert {"action", "bulk", "buy_refund", "bad", "replay", "conflict", "refund", "qr_expired"} <= set(kinds)
    assert sum(1 for kind, _, body in first if kind == "action" and "-s" in str(body)) >= 4  # shoppers earn first


def test_a_forged_code_is_another_code_of_the_same_length() -> None:
    forged = {forge(CODE, random.Random(i)) for i in range(20)}
    assert CODE not in forged and {len(f) for f in forged} == {len(CODE)}


def test_a_duplicate_claim_must_be_refused_with_its_own_problem() -> None:
    tally = QrTally()
    body = {"code": CODE.lower(), "wallet": "0x" + "11" * 20}
    problem = httpx.Response(
        409, json={"code": "qr-already-claimed"}, headers={"content-type": "application/problem+json"}
    )
    assert judge_qr("qr_dup", {}, body, problem, False, tally) is None
    accepted = httpx.Response(201, json={})
    assert "expected 409 qr-already-claimed" in str(judge_qr("qr_dup", {}, body, accepted, False, tally))
    assert tally.created[CODE] == 1 and tally.refused["qr-already-claimed"] == 1


def test_each_distinct_traceback_is_kept_once_with_its_last_frames() -> None:
    block = 'Traceback (most recent call last):\n  File "a.py", line 1, in f\n    g()\nValueError: boom'
    log = "\n".join(["starting", block, "noise", block, block.replace("ValueError: boom", "KeyError: 'x'")])
    found = distinct_tracebacks(log)
    assert [b.splitlines()[-1] for b in found] == ["ValueError: boom", "KeyError: 'x'"]
    assert found[0].startswith("Traceback") and 'File "a.py"' in found[0]
