"""`WriteBatch`: queued inserts and upserts reach the database intact, in order, and fail like SQLAlchemy writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError

from backend.adapters.orm.earning import WalletBalance
from backend.adapters.write_batch import COPY_FROM, WriteBatch
from backend.bootstrap import Container
from backend.services.notifications.events import EVENTS

BALANCES: Table = WalletBalance.__table__  # type: ignore[assignment]
KEY = ["wallet", "chain_id", "token_address"]
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TOKEN = "0x" + "ab" * 20
EVENT = {"fanned_out": False, "created_at": NOW}  # raw SQL on PostgreSQL: no ORM-side defaults


def balance(wallet: str, credited: int) -> dict[str, object]:
    return {
        "wallet": wallet,
        "chain_id": 1,
        "token_address": TOKEN,
        "credited": credited,
        "reversed": 0,
        "debt": 0,
        "lifetime_earned": credited,
        "updated_at": NOW,
    }


def test_inserts_and_upserts_round_trip_big_amounts_json_and_nulls(container: Container) -> None:
    huge = 2**200 + 7  # beyond any SQL integer type: uint256 columns must keep it exact
    payload = {"credits": [{"amount": str(huge), "wallet": "0x" + "01" * 20}], "n": huge, "none": None, "é": "ü"}
    with container.sessions() as session:
        writes = WriteBatch(session)
        writes.upsert(BALANCES, [balance("0xa", 5), balance("0xb", huge)], KEY)
        writes.insert(EVENTS, [{"brand_id": 1, "type": "action.credited", "payload": payload, **EVENT}])
        writes.upsert(BALANCES, [balance("0xa", 9)], KEY)  # the later statement wins: order is kept
        writes.execute()
        session.commit()
    with container.sessions() as session:
        stored = {row.wallet: row.credited for row in session.execute(select(BALANCES))}
        assert stored == {"0xa": 9, "0xb": huge}
        (event,) = session.execute(select(EVENTS.c.payload, EVENTS.c.fanned_out)).all()
        assert event.payload == payload and event.fanned_out is False


def test_large_inserts_go_after_what_is_queued(container: Container) -> None:
    rows = [{"brand_id": 2, "type": "action.credited", "payload": {"i": i}, **EVENT} for i in range(1200)]
    with container.sessions() as session:
        writes = WriteBatch(session)
        writes.insert(EVENTS, [{"brand_id": 2, "type": "action.credited", "payload": {"i": -1}, **EVENT}])
        writes.insert(EVENTS, rows)
        writes.execute()
        session.commit()
    with container.sessions() as session:
        order = [p["i"] for p in session.scalars(select(EVENTS.c.payload).order_by(EVENTS.c.id))]
        assert COPY_FROM <= 1200  # the COPY branch
        assert order[0] == -1 and sorted(order[1:]) == list(range(1200))


def test_a_duplicate_key_raises_integrity_error_so_callers_retry(container: Container) -> None:
    with container.sessions() as session:
        writes = WriteBatch(session)
        with pytest.raises(IntegrityError):  # SQLite writes at once, PostgreSQL when the pipeline is sent
            writes.insert(BALANCES, [balance("0xa", 1)])
            writes.insert(BALANCES, [balance("0xa", 2)])
            writes.execute()
        session.rollback()
    with container.sessions() as session:
        assert session.execute(select(BALANCES)).all() == []  # nothing of the failed unit of work remains
