"""Refund pro-rata, debt netting and balance recomputation: the arithmetic the ledger relies on."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from backend.domain.ledger import Balance, clawback, offset_debt, recompute, split_refund


@given(
    credit=st.integers(min_value=0, max_value=10**30),
    parts=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=6),
)
def test_partial_refunds_add_up_to_the_whole_credit(credit: int, parts: list[int]) -> None:
    total = Decimal(sum(parts)) / 100
    refunded, taken = Decimal(0), 0
    for part in parts:
        now = Decimal(part) / 100
        piece = clawback(credit, total, refunded, now)
        assert 0 <= piece <= credit
        taken += piece
        refunded += now
    assert taken == credit


def test_refund_takes_pending_first_then_debt() -> None:
    assert split_refund(50, 70) == split_refund(50, 70)
    assert (split_refund(50, 70).reversal, split_refund(50, 70).reissue, split_refund(50, 70).debt) == (50, 20, 0)
    assert (split_refund(100, 70).reversal, split_refund(100, 70).reissue, split_refund(100, 70).debt) == (70, 0, 30)
    assert (split_refund(40, None).reversal, split_refund(40, None).debt) == (0, 40)


def test_debt_offsets_at_most_the_credit() -> None:
    assert offset_debt(100, 30) == 30
    assert offset_debt(10, 30) == 10
    assert offset_debt(10, 0) == 0


def test_recompute_follows_the_documented_formulas() -> None:
    w, t = "0xW", "0xT"
    rows = [(w, 1, t, "credit", 100), (w, 1, t, "debt", 40), (w, 1, t, "credit", 30), (w, 1, t, "debt_offset", 30)]
    rows.append((w, 1, t, "reversal", 20))
    assert recompute(rows)[(w, 1, t)] == Balance(credited=80, reversed=20, debt=10, lifetime_earned=130)
