"""Many shoppers scanning the same code at once: exactly one claim, with or without Redis in front."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.adapters.orm.qr import QrClaim
from backend.bootstrap import Container, provision
from backend.errors import LoyaltyError
from tests.conftest import make_settings
from tests.integration.qr.campaigns import campaign_factory, claim, code_of, credits

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _claim_concurrently(container: Container, code: str, claimants: int) -> Counter[str]:
    start = threading.Barrier(claimants)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def scan(i: int) -> None:
        wallet = "0x" + f"{i + 1:040x}"
        start.wait()
        try:
            claim(container, code, wallet)
            outcome = "won"
        except LoyaltyError as exc:
            outcome = exc.code
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(claimants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _claim_rows(container: Container) -> int:
    with container.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(QrClaim)) or 0)


def test_a_thousand_concurrent_claims_of_one_code_credit_once(pg_container: Container) -> None:
    campaign = campaign_factory(pg_container)(codes=1)
    outcomes = _claim_concurrently(pg_container, code_of(pg_container, campaign), 1000)
    assert outcomes == Counter({"won": 1, "qr-already-claimed": 999})
    assert _claim_rows(pg_container) == 1
    assert len(credits(pg_container)) == 1


def test_without_redis_the_database_alone_admits_one_claim(
    pg_url: str, tmp_path: Path, pg_container: Container
) -> None:
    campaign = campaign_factory(pg_container)(codes=1)
    no_redis = provision(make_settings(pg_url, tmp_path), chain=pg_container.chain, with_contracts=False)
    try:
        assert no_redis.redis is None
        outcomes = _claim_concurrently(no_redis, code_of(no_redis, campaign), 100)
    finally:
        no_redis.close()
    assert outcomes == Counter({"won": 1, "qr-already-claimed": 99})
    assert _claim_rows(pg_container) == 1
    assert len(credits(pg_container)) == 1
