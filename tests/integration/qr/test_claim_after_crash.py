"""A claim whose API worker died mid-request must not lock the code out: the retry is decided by the database.

Found by scripts/chaos.py: after a SIGKILLed API worker, the shopper's retry of a never-committed claim got
409 `qr-already-claimed` from the leftover Redis reservation, and the code was never credited.
"""

from __future__ import annotations

import pytest

from backend.bootstrap import Container
from backend.domain import qr as codec
from backend.services.qr import claims as qr_service
from backend.services.qr import errors as qr_errors
from tests.integration.qr.campaigns import OTHER_WALLET, WALLET, MakeCampaign, claim, code_of, credits


def _leave_reservation_of_a_dead_claim(container: Container, code: str) -> None:
    """What a worker killed between its Redis reservation and its COMMIT leaves behind."""
    assert container.redis is not None
    payload = codec.decode(code, container.qr_keyring)
    key = qr_service.claim_key(container.redis, payload)
    container.redis.client.set(key, qr_service.INFLIGHT + "dead-worker", ex=qr_service.IN_FLIGHT_TTL_S)


def test_retry_after_a_claim_died_in_flight_is_credited_once(
    qr_container: Container, make_campaign: MakeCampaign
) -> None:
    campaign = make_campaign()
    code = code_of(qr_container, campaign, 2)
    _leave_reservation_of_a_dead_claim(qr_container, code)

    result = claim(qr_container, code, WALLET)

    assert result.code_id == 2 and result.amount == 10**18
    with pytest.raises(qr_errors.QrAlreadyClaimed):  # now it is claimed: refused (from Redis, instantly)
        claim(qr_container, code, OTHER_WALLET)
    assert credits(qr_container) == [(result.wallet, 10**18)]
