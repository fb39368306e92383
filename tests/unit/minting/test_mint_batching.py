"""Aggregation per wallet and gas-based batch sizing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from backend.domain.batching import (
    TX_GAS_CAP,
    GasModel,
    OutboxCredit,
    aggregate,
    gas_budget,
    plan_batch,
    should_flush,
    unmintable,
)
from backend.domain.manifest import MAX_ENTRY_AMOUNT

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def credit(i: int, wallet: str, amount: int = 10, at: int = 0) -> OutboxCredit:
    return OutboxCredit(i, wallet, amount, f"act-{i}", "r1", T0 + timedelta(seconds=at))


def wallet(n: int) -> str:
    return "0x" + n.to_bytes(20, "big").hex()


def test_credits_of_one_wallet_collapse_into_one_line_keeping_every_action() -> None:
    lines = aggregate([credit(1, wallet(1), 5), credit(2, wallet(2), 7, at=1), credit(3, wallet(1), 11, at=2)])
    assert [(line.wallet, line.amount) for line in lines] == [(wallet(1), 16), (wallet(2), 7)]
    assert [m.action_id for m in lines[0].manifest_lines()] == ["act-1", "act-3"]


def test_a_sum_beyond_96_bits_opens_a_second_line() -> None:
    lines = aggregate([credit(1, wallet(1), MAX_ENTRY_AMOUNT), credit(2, wallet(1), 1)])
    assert [line.amount for line in lines] == [MAX_ENTRY_AMOUNT, 1]


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 10**20)), min_size=1, max_size=60))
def test_aggregation_preserves_every_credit_and_each_wallet_total(raw: list[tuple[int, int]]) -> None:
    credits = [credit(i, wallet(w), a, at=i) for i, (w, a) in enumerate(raw)]
    lines = aggregate(credits)
    assert sorted(c.id for line in lines for c in line.credits) == [c.id for c in credits]
    for w in {c.wallet for c in credits}:
        assert sum(line.amount for line in lines if line.wallet == w) == sum(c.amount for c in credits if c.wallet == w)


def test_budget_respects_block_share_and_the_per_tx_cap() -> None:
    assert gas_budget(30_000_000, 0.5, 1.0) == 15_000_000
    assert gas_budget(30_000_000, 0.5, 1.25) == 12_000_000
    assert gas_budget(200_000_000, 0.5, 1.0) == TX_GAS_CAP  # Polygon's 2^25 per-transaction cap wins


def test_fresh_holders_cost_more_room_than_existing_ones() -> None:
    model = GasModel()
    lines = aggregate([credit(i, wallet(i), at=i) for i in range(1, 2001)])
    budget = gas_budget(30_000_000, 0.5, 1.2)
    all_fresh = plan_batch(lines, lambda w: True, budget, 10_000, model)
    all_existing = plan_batch(lines, lambda w: False, budget, 10_000, model)
    assert all_fresh.full and all_existing.full
    assert len(all_fresh.lines) == (budget - model.base) // model.fresh
    assert len(all_existing.lines) == (budget - model.base) // model.existing
    assert all_fresh.gas_estimate <= budget and all_existing.gas_estimate <= budget


def test_plan_is_oldest_first_and_bounded_by_max_recipients() -> None:
    lines = aggregate([credit(i, wallet(i), at=100 - i) for i in range(1, 11)])
    plan = plan_batch(lines, lambda w: True, 10**9, 3)
    assert plan.full
    assert [line.wallet for line in plan.lines] == [wallet(10), wallet(9), wallet(8)]


def test_small_pending_set_is_not_full() -> None:
    lines = aggregate([credit(1, wallet(1))])
    plan = plan_batch(lines, lambda w: True, 10**9, 100)
    assert not plan.full and plan.fresh == 1 and plan.existing == 0


def test_flush_on_window_or_when_full() -> None:
    assert not should_flush(T0, T0 + timedelta(seconds=1), 2.0, full=False)
    assert should_flush(T0, T0 + timedelta(seconds=2), 2.0, full=False)
    assert should_flush(T0, T0, 2.0, full=True)


def test_a_credit_no_batch_mint_entry_can_carry_is_named_unmintable() -> None:
    assert unmintable(credit(1, wallet(1), MAX_ENTRY_AMOUNT)) is None
    for bad in (credit(2, wallet(1), MAX_ENTRY_AMOUNT + 1), credit(3, wallet(1), 0), credit(4, wallet(1), -1)):
        assert "2^96-1" in (unmintable(bad) or "")
    assert "encoded" in (unmintable(credit(5, "0xnot-a-wallet", 1)) or "")
    assert "encoded" in (unmintable(credit(6, "0x" + "00" * 20, 1)) or "")
