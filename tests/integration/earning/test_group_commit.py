"""Concurrent single actions share database flushes, yet each request gets its own, correct answer."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy import func, select

from backend.adapters.orm.earning import Action
from backend.adapters.orm.minting import CreditOutbox
from tests.integration.earning.test_actions import RATE, W1, W2, purchase
from tests.support.live_server import live_server
from tests.support.shop import Shop


def test_concurrent_requests_in_shared_flushes_keep_per_request_outcomes(shop: Shop) -> None:
    shop.promote({"name": "base", "rules": [RATE]})
    fresh = [purchase(f"n{i}", wallet=W1 if i % 2 else W2) for i in range(40)]
    replay = purchase("n0", wallet=W2)  # same key + same body as fresh[0]
    clash = purchase("n1", wallet=W1, amount="99")  # same key, different body
    self_ref = {"idempotency_key": "sr", "type": "referral", "wallet": W1, "referrer": W1}
    bodies = [*fresh, replay, replay, clash, self_ref]

    async def send_all(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, headers=shop.headers, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/actions", json=b) for b in bodies))

    with live_server(shop.container) as base:
        responses = asyncio.run(send_all(base))

    others = [r for i, r in enumerate(responses[:40]) if i != 1]
    assert all(r.status_code in (200, 201) for r in others), [r.text for r in others if r.status_code >= 300]
    # fresh[1] and the clash race for key n1 (they may land in two flushes written at once): one wins, one is 409
    winner, loser = sorted([responses[1], responses[42]], key=lambda r: r.status_code)
    assert (winner.status_code, loser.status_code, loser.json()["code"]) == (201, 409, "idempotency-conflict")
    # whichever of fresh[0] and its two replays ran first created it; the others replayed the same body
    first_three = [responses[0], responses[40], responses[41]]
    assert sorted(r.status_code for r in first_three) == [200, 200, 201]
    assert len({r.text for r in first_three}) == 1
    assert (responses[43].status_code, responses[43].json()["code"]) == (422, "self-referral")
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in [loser, responses[43]])

    with shop.container.uow() as uow:
        keys = uow.session.scalars(select(Action.idempotency_key).where(Action.brand_id == shop.brand_id)).all()
        assert Counter(keys) == Counter(f"n{i}" for i in range(40))  # each accepted exactly once
        outbox = uow.session.scalar(
            select(func.count()).select_from(CreditOutbox).where(CreditOutbox.brand_id == shop.brand_id)
        )
        assert outbox == 40
