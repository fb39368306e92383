"""The rules engine, pure: what an action earns under each rule kind, caps, budget, stacking and time windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from backend.domain.promotion_spec import PromotionSpec
from backend.domain.rules import ActionFacts, ActivePromotion, Evaluator, EvaluatorState, TierBasis
from backend.domain.tiers import TierThresholds

TOKEN = "0x" + "7" * 40
A, B, C = "0x" + "a" * 40, "0x" + "b" * 40, "0x" + "c" * 40
NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
UNIT = 10**18


def promo(pid: int = 1, **spec: Any) -> ActivePromotion:
    spec.setdefault("name", f"p{pid}")
    return ActivePromotion(pid, 1, 1, TOKEN, PromotionSpec.model_validate(spec))


def purchase(wallet: str = A, amount: str = "12.34", currency: str = "EUR", at: datetime = NOW) -> ActionFacts:
    return ActionFacts("purchase", wallet, at, Decimal(amount), currency)


def earned(evaluator: Evaluator, action: ActionFacts) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for credit in evaluator.evaluate(action):
        out[credit.wallet] = out.get(credit.wallet, Decimal(0)) + Decimal(credit.amount) / UNIT
    return out


RATE = {"kind": "rate", "key": "eur", "currency": "EUR", "per": "1.00", "tokens": "10"}


@pytest.mark.parametrize(
    ("rounding", "round_to", "amount", "expected"),
    [
        ("floor", "1", "12.34", "123"),
        ("half_up", "1", "12.35", "124"),
        ("floor", "0.1", "12.34", "123.4"),
        ("floor", "1", "0.09", "0"),
    ],
)
def test_rate_rule_rounds_as_configured(rounding: str, round_to: str, amount: str, expected: str) -> None:
    evaluator = Evaluator([promo(rules=[{**RATE, "rounding": rounding, "round_to": round_to}])], EvaluatorState())
    assert earned(evaluator, purchase(amount=amount)).get(A, Decimal(0)) == Decimal(expected)


def test_rate_rule_ignores_other_currencies_and_action_types() -> None:
    evaluator = Evaluator([promo(rules=[RATE])], EvaluatorState())
    assert earned(evaluator, purchase(currency="USD")) == {}
    assert earned(evaluator, ActionFacts("custom", A, NOW, custom_type="checkin")) == {}


def test_fixed_amount_per_action_type_including_custom_names() -> None:
    rules = [{"kind": "fixed", "key": "checkin", "action_types": ["custom:checkin"], "amount": "2.5"}]
    evaluator = Evaluator([promo(rules=rules)], EvaluatorState())
    assert earned(evaluator, ActionFacts("custom", A, NOW, custom_type="checkin")) == {A: Decimal("2.5")}
    assert earned(evaluator, ActionFacts("custom", A, NOW, custom_type="review")) == {}


def test_first_purchase_bonus_only_once_per_wallet() -> None:
    evaluator = Evaluator([promo(rules=[{"kind": "first_purchase", "key": "hello", "amount": "50"}])], EvaluatorState())
    assert earned(evaluator, purchase()) == {A: Decimal(50)}
    assert earned(evaluator, purchase()) == {}
    assert earned(evaluator, purchase(wallet=B)) == {B: Decimal(50)}


def test_referral_pays_both_once_per_referee_and_never_self() -> None:
    rules = [{"kind": "referral", "key": "ref", "referrer_amount": "20", "referee_amount": "5"}]
    evaluator = Evaluator([promo(rules=rules)], EvaluatorState())
    assert earned(evaluator, ActionFacts("referral", B, NOW, referrer=A)) == {A: Decimal(20), B: Decimal(5)}
    assert earned(evaluator, ActionFacts("referral", B, NOW, referrer=C)) == {}  # B was referred already
    assert earned(evaluator, ActionFacts("referral", C, NOW, referrer=C)) == {}  # self-referral


def test_tier_multiplier_uses_the_profile_tier_with_the_brand() -> None:
    rules = [RATE, {"kind": "tier_multiplier", "key": "tiers", "multipliers": {"silver": "1.5", "gold": "2"}}]
    state = EvaluatorState(tiers=TierBasis(brand=TierThresholds(Decimal(100), Decimal(1000), Decimal(5000))))
    state.wallet(B).lifetime_earned = 1000 * UNIT
    state.wallet(C).lifetime_earned = 5000 * UNIT
    evaluator = Evaluator([promo(rules=rules)], state)
    assert earned(evaluator, purchase(amount="10")) == {A: Decimal(100)}  # member: no multiplier
    assert earned(evaluator, purchase(amount="10")) == {A: Decimal(150)}  # silver after 100 earned
    assert earned(evaluator, purchase(wallet=B, amount="10")) == {B: Decimal(200)}  # gold
    assert earned(evaluator, purchase(wallet=C, amount="10")) == {C: Decimal(100)}  # platinum: not listed, × 1
    assert [state.tiers.tier(state.wallet(w), "brand") for w in (A, B, C)] == ["silver", "gold", "platinum"]


def test_tier_multiplier_across_brands_counts_lifetime_earned_elsewhere() -> None:
    rules = [RATE, {"kind": "tier_multiplier", "key": "t", "basis": "platform", "multipliers": {"gold": "3"}}]
    state = EvaluatorState(tiers=TierBasis(platform=TierThresholds(Decimal(10), Decimal(500), Decimal(9000))))
    state.wallet(A).other_brands_lifetime = Decimal(450)  # gold across brands after 50 more here
    evaluator = Evaluator([promo(rules=rules)], state)
    assert earned(evaluator, purchase(amount="5")) == {A: Decimal(50)}
    assert earned(evaluator, purchase(amount="5")) == {A: Decimal(150)}


def test_caps_per_day_and_per_promotion() -> None:
    evaluator = Evaluator(
        [promo(rules=[RATE], caps={"per_wallet_per_day": "150", "per_wallet_total": "200"})], EvaluatorState()
    )
    assert earned(evaluator, purchase(amount="10")) == {A: Decimal(100)}
    assert earned(evaluator, purchase(amount="10")) == {A: Decimal(50)}  # day cap
    assert earned(evaluator, purchase(amount="10")) == {}
    tomorrow = NOW + timedelta(days=1)
    assert earned(evaluator, purchase(amount="10", at=tomorrow)) == {A: Decimal(50)}  # total cap
    assert earned(evaluator, purchase(amount="10", at=tomorrow)) == {}


def test_budget_is_never_exceeded() -> None:
    state = EvaluatorState(budget_left={1: 250 * UNIT})
    evaluator = Evaluator([promo(rules=[RATE], budget="250")], state)
    got = [earned(evaluator, purchase(wallet=w, amount="10")).get(w) for w in (A, B, C)]
    assert got == [Decimal(100), Decimal(100), Decimal(50)]
    assert earned(evaluator, purchase(amount="10")) == {}


def test_exclusive_higher_priority_promotion_stops_lower_ones() -> None:
    low = promo(1, priority=0, rules=[{"kind": "fixed", "key": "f", "action_types": ["purchase"], "amount": "1"}])
    high = promo(
        2,
        priority=10,
        exclusive=True,
        rules=[{"kind": "fixed", "key": "f", "action_types": ["purchase"], "amount": "5"}],
    )
    stacking = promo(3, priority=20, rules=[{"kind": "fixed", "key": "f", "action_types": ["purchase"], "amount": "2"}])
    credits = Evaluator([low, high, stacking], EvaluatorState()).evaluate(purchase())
    assert [(c.promotion_id, c.amount // UNIT) for c in credits] == [(3, 2), (2, 5)]
    assert credits[1].rule_id == "p2v1:f"
    both = Evaluator([low, stacking], EvaluatorState()).evaluate(purchase())
    assert sorted(c.promotion_id for c in both) == [1, 3]


def test_start_and_end_time() -> None:
    window = promo(
        starts_at="2026-01-15T00:00:00Z",
        ends_at="2026-01-16T00:00:00Z",
        rules=[{"kind": "fixed", "key": "f", "action_types": ["purchase"], "amount": "1"}],
    )
    evaluator = Evaluator([window], EvaluatorState())
    assert earned(evaluator, purchase(at=NOW)) == {A: Decimal(1)}
    assert earned(evaluator, purchase(at=NOW - timedelta(days=1))) == {}
    assert earned(evaluator, purchase(at=NOW + timedelta(days=1))) == {}


def test_promotion_participation_only_counts_for_its_promotion() -> None:
    rules = [{"kind": "fixed", "key": "join", "action_types": ["promotion"], "amount": "3"}]
    evaluator = Evaluator([promo(1, rules=rules), promo(2, rules=rules)], EvaluatorState())
    credits = evaluator.evaluate(ActionFacts("promotion", A, NOW, promotion_id=2))
    assert [c.promotion_id for c in credits] == [2]


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x", "rules": [{**RATE, "tokens": 1.5}]},  # JSON float for money
        {"name": "x", "rules": [{**RATE, "tokens": "1e3"}]},
        {"name": "x", "rules": [{**RATE, "tokens": "0." + "1" * 19}]},  # beyond token decimals
        {"name": "x", "rules": [{**RATE, "tokens": "-1"}]},
        {"name": "x", "rules": [{**RATE, "surprise": True}]},  # unknown field
        {"name": "x", "rules": [RATE], "colour": "red"},
        {"name": "x", "rules": []},
        {"name": "x", "rules": [RATE, RATE]},  # duplicate keys
        {"name": "x", "rules": [{"kind": "lottery", "key": "l"}]},
        {"name": "x", "rules": [RATE], "starts_at": "2026-01-02T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"},
        {"name": "x", "rules": [RATE], "starts_at": "2026-01-02T00:00:00"},  # no timezone
        {"name": "x", "rules": [RATE], "pay_in_coalition": True, "pay_in_brand_id": 2},
        {"name": "x", "rules": [{"kind": "tier_multiplier", "key": "t", "multipliers": {"diamond": "2"}}]},
        {"name": "x", "rules": [{"kind": "tier_multiplier", "key": "t", "multipliers": {}}]},
        {"name": "x", "rules": [{"kind": "tier_multiplier", "key": "t", "multipliers": {"gold": "0"}}]},
        {
            "name": "x",
            "rules": [{"kind": "tier_multiplier", "key": "t", "basis": "galaxy", "multipliers": {"gold": "2"}}],
        },
    ],
)
def test_invalid_promotions_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PromotionSpec.model_validate(spec)


def test_a_stored_definition_reads_back_even_with_the_smallest_amounts() -> None:
    spec = PromotionSpec.model_validate(
        {
            "name": "dust",
            "rules": [{"kind": "fixed", "key": "f", "action_types": ["purchase"], "amount": "0.000000000000000001"}],
        }
    )
    stored = spec.model_dump(mode="json")  # what promotion_versions.definition keeps
    assert stored["rules"][0]["amount"] == "0.000000000000000001"  # not "1E-18", which the parser refuses
    assert PromotionSpec.model_validate(stored) == spec
