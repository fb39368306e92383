"""Amounts against the token's range (2^96-1 base units per mint entry): exact conversion, refusal without effect."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.promotion_spec import PromotionSpec, check_spec_amounts
from backend.domain.rules import ActionFacts, ActivePromotion, Evaluator, EvaluatorState
from backend.domain.rules_amounts import MAX_TOKEN_UNITS, AmountOutOfRange, from_base_units, to_base_units

TOKEN = "0x" + "7" * 40
A = "0x" + "a" * 40
NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)


def promo(pid: int, **spec: Any) -> ActivePromotion:
    return ActivePromotion(pid, 1, 1, TOKEN, PromotionSpec.model_validate({"name": f"p{pid}", **spec}))


def test_the_largest_amount_converts_exactly() -> None:
    # NOTE: 2^96-1 has 29 digits; Decimal's default context would round it to 28.
    assert to_base_units(Decimal(from_base_units(MAX_TOKEN_UNITS))) == MAX_TOKEN_UNITS
    assert to_base_units(Decimal("12345678901.123456789012345678")) == 12345678901123456789012345678


@given(st.integers(min_value=0, max_value=2**160))
def test_base_units_round_trip_exactly(units: int) -> None:
    assert to_base_units(Decimal(from_base_units(units))) == units


def test_a_credit_beyond_the_range_is_refused_and_changes_no_running_state() -> None:
    budgeted = promo(1, budget="1000", caps={"per_wallet_total": "500"}, rules=[
        {"key": "f", "kind": "fixed", "action_types": ["purchase"], "amount": "5"}])  # fmt: skip
    rate = promo(2, rules=[{"key": "r", "kind": "rate", "currency": "JPY", "tokens": "1"}])
    state = EvaluatorState(budget_left={1: 1000 * 10**18})
    evaluator = Evaluator([budgeted, rate], state)
    with pytest.raises(AmountOutOfRange):
        evaluator.evaluate(ActionFacts("purchase", A, NOW, Decimal(10**11), "JPY"))
    assert state.budget_left == {1: 1000 * 10**18} and state.usage == {}
    assert state.wallet(A).lifetime_earned == 0 and not state.wallet(A).has_purchased
    # the largest credit one entry carries is granted
    credits = evaluator.evaluate(ActionFacts("purchase", A, NOW, Decimal(79228162514), "JPY"))
    assert sorted(c.amount for c in credits) == [5 * 10**18, 79228162514 * 10**18]


@pytest.mark.parametrize(
    "rules",
    [
        [{"key": "f", "kind": "fixed", "action_types": ["purchase"], "amount": "79228162515"}],
        [{"key": "f", "kind": "first_purchase", "amount": "79228162515"}],
        [{"key": "f", "kind": "referral", "referrer_amount": "79228162515"}],
        [{"key": "r", "kind": "rate", "currency": "EUR", "tokens": "79228162515"}],
        [
            {"key": "f", "kind": "fixed", "action_types": ["purchase"], "amount": "1000000000"},
            {"key": "t", "kind": "tier_multiplier", "multipliers": {"gold": "80"}},
        ],
    ],
)
def test_rule_amounts_that_could_never_be_minted_are_refused(rules: list[dict[str, Any]]) -> None:
    with pytest.raises(AmountOutOfRange):
        check_spec_amounts(PromotionSpec.model_validate({"name": "p", "rules": rules}))


def test_rule_amounts_up_to_the_range_are_accepted() -> None:
    rules = [
        {"key": "f", "kind": "fixed", "action_types": ["purchase"], "amount": "990000000"},
        {"key": "t", "kind": "tier_multiplier", "multipliers": {"gold": "80"}},
    ]
    check_spec_amounts(PromotionSpec.model_validate({"name": "p", "rules": rules}))
