"""Tiers from lifetime earned, and the reasons a wallet may not claim an offer (pure domain rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from backend.domain.offers import OfferTerms, WalletFacts, ineligibility
from backend.domain.tiers import DEFAULT_THRESHOLDS, TierError, TierThresholds, tier_rank, tier_status

NOW = datetime(2026, 6, 1, tzinfo=UTC)
T = 10**18


@pytest.mark.parametrize(
    ("lifetime", "tier", "next_tier", "remaining"),
    [
        ("0", "member", "silver", "100"),
        ("99.5", "member", "silver", "0.5"),
        ("100", "silver", "gold", "900"),
        ("999", "silver", "gold", "1"),
        ("1000", "gold", "platinum", "4000"),
        ("5000", "platinum", None, None),
        ("1000000", "platinum", None, None),
    ],
)
def test_tier_and_what_is_left_to_the_next(
    lifetime: str, tier: str, next_tier: str | None, remaining: str | None
) -> None:
    status = tier_status(Decimal(lifetime), DEFAULT_THRESHOLDS)
    assert (status.tier, status.next_tier) == (tier, next_tier)
    assert status.remaining == (None if remaining is None else Decimal(remaining))
    assert Decimal(0) <= status.progress <= Decimal(1)


def test_progress_is_the_share_of_the_way_between_two_thresholds() -> None:
    assert tier_status(Decimal(550), DEFAULT_THRESHOLDS).progress == Decimal("0.5")
    assert tier_status(Decimal(5000), DEFAULT_THRESHOLDS).progress == Decimal(1)


def test_thresholds_must_ascend_and_parse_from_settings() -> None:
    assert TierThresholds.parse("silver=10, gold=20, platinum=30") == TierThresholds(
        Decimal(10), Decimal(20), Decimal(30)
    )
    for bad in ("silver=10,gold=10,platinum=30", "silver=10,gold=20", "bronze=1,gold=2,platinum=3"):
        with pytest.raises(TierError):
            TierThresholds.parse(bad)
    with pytest.raises(TierError):
        tier_rank("diamond")
    assert tier_rank(None) < tier_rank("silver") < tier_rank("gold") < tier_rank("platinum")


def facts(spendable: int = 100 * T, tier: str = "member", claimed: int = 0) -> WalletFacts:
    return WalletFacts(spendable=spendable, tier=tier, claimed=claimed)


def test_an_open_offer_the_wallet_can_afford_is_claimable() -> None:
    assert ineligibility(OfferTerms(cost=10 * T, stock_left=1), facts(), NOW) == []


def test_each_reason_is_reported() -> None:
    terms = OfferTerms(cost=10 * T, stock_left=5)
    assert ineligibility(OfferTerms(cost=10 * T, stock_left=0), facts(), NOW) == ["out_of_stock"]
    later = OfferTerms(cost=10 * T, stock_left=5, starts_at=NOW + timedelta(days=1))
    assert ineligibility(later, facts(), NOW) == ["not_started"]
    over = OfferTerms(cost=10 * T, stock_left=5, ends_at=NOW)
    assert ineligibility(over, facts(), NOW) == ["ended"]
    gold = OfferTerms(cost=10 * T, stock_left=5, min_tier="gold")
    assert ineligibility(gold, facts(tier="silver"), NOW) == ["tier_too_low"]
    assert ineligibility(gold, facts(tier="platinum"), NOW) == []
    once = OfferTerms(cost=10 * T, stock_left=5, per_wallet_limit=1)
    assert ineligibility(once, facts(claimed=1), NOW) == ["limit_reached"]
    assert ineligibility(terms, facts(spendable=10 * T - 1), NOW) == ["insufficient_balance"]
    rich_only = OfferTerms(cost=10 * T, stock_left=5, min_balance=50 * T)
    assert ineligibility(rich_only, facts(spendable=49 * T), NOW) == ["insufficient_balance"]


def test_every_reason_at_once_in_reading_order() -> None:
    terms = OfferTerms(
        cost=10 * T, stock_left=0, ends_at=NOW - timedelta(days=1), per_wallet_limit=1, min_tier="platinum"
    )
    assert ineligibility(terms, facts(spendable=0, claimed=1), NOW) == [
        "ended",
        "out_of_stock",
        "tier_too_low",
        "limit_reached",
        "insufficient_balance",
    ]


def test_failed_relays_are_reported_by_contract_error_name() -> None:
    from backend.services.shoppers.redemptions import failure_reason

    # eth-tester puts the revert data into the message as a bytes literal, sometimes cut short.
    data = bytes.fromhex("e450d38c") + b"\x00" * 96
    assert failure_reason(f"reverted: execution reverted: {data!r}") == "ERC20InsufficientBalance"
    assert failure_reason(f"reverted: execution reverted: {data!r}"[:60]) == "ERC20InsufficientBalance"
    assert failure_reason("RedemptionExpired(1700000000)") == "RedemptionExpired"
    assert failure_reason(None) == "unknown"
