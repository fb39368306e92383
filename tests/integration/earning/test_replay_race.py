"""A retry that races its original (same key, same body) is a replay, even when the original commits mid-way."""

from __future__ import annotations

import threading
import time

import pytest

from backend.domain.actions import ActionIn
from backend.services.earning.actions.recorder import record_actions
from backend.services.earning.actions.results import ActionResult
from tests.integration.earning.test_actions import W1, W2
from tests.support.shop import Shop

REFERRAL = {"idempotency_key": "r1", "type": "referral", "wallet": W1, "referrer": W2}


def test_a_retry_waiting_on_the_originals_locks_replays_instead_of_already_referred(shop: Shop) -> None:
    if shop.container.settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite writers take the database lock before reading: no such interleaving")
    shop.promote({"name": "ref", "rules": [{"kind": "referral", "key": "ref", "referrer_amount": "5"}]})
    action = ActionIn.model_validate(REFERRAL)
    outcome: list[object] = []

    def retry() -> None:  # looks the key up (not committed yet), then waits for the original's row locks
        with shop.container.sessions() as session:
            outcome.extend(record_actions(session, shop.brand_id, [action]))
            session.commit()

    with shop.container.sessions() as original:
        (first,) = record_actions(original, shop.brand_id, [action])
        racer = threading.Thread(target=retry)
        racer.start()
        time.sleep(1.0)  # NOTE: if the retry is slower than this it simply sees the committed key: same answer
        original.commit()
    racer.join(60)
    assert isinstance(first, ActionResult) and first.status == "created"
    (second,) = outcome
    assert isinstance(second, ActionResult), second
    assert (second.status, second.body) == ("replayed", first.body)
