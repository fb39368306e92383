"""Fee arithmetic: replacements clear Polygon's 110 % rule on both fields; caps explain themselves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.config import Settings
from backend.services.relayer.fee_oracle import GWEI, FeeQuote, bump, cap_reason
from backend.services.relayer.replacement import underpriced

wei = st.integers(min_value=0, max_value=10**13)


@given(wei)
def test_bump_is_at_least_ten_percent_plus_one_wei_and_eighth_rounded_up(value: int) -> None:
    bumped = bump(value)
    assert bumped * 100 >= value * 110 + 1  # strictly above geth/bor's integer 110 % threshold
    assert bumped * 8 >= value * 9
    assert bumped > value


@given(wei, wei, wei, wei)
def test_replacement_beats_old_fees_by_110_percent_and_never_undercuts_a_fresh_quote(
    old_tip: int, old_extra: int, fresh_tip: int, fresh_extra: int
) -> None:
    old = FeeQuote(old_tip + old_extra, old_tip)
    fresh = FeeQuote(fresh_tip + fresh_extra, fresh_tip)
    new = old.replacement(fresh)
    assert new.max_priority_fee_per_gas is not None
    assert new.max_priority_fee_per_gas * 100 >= old_tip * 110
    assert new.max_fee_per_gas * 100 >= old.max_fee_per_gas * 110
    assert new.max_priority_fee_per_gas >= fresh_tip
    assert new.max_fee_per_gas >= fresh.max_fee_per_gas
    assert new.max_fee_per_gas >= new.max_priority_fee_per_gas


def test_legacy_replacement_bumps_gas_price() -> None:
    new = FeeQuote(30 * GWEI, None).replacement(FeeQuote(31 * GWEI, None))
    assert new.legacy and new.max_fee_per_gas == 33_750_000_000
    assert new.tx_fields() == {"gasPrice": 33_750_000_000}


def test_per_transaction_cap_reason_names_quote_and_cap_in_gwei() -> None:
    reason = cap_reason(
        FeeQuote(100 * GWEI, 30 * GWEI),
        100_000,
        max_fee_per_tx_wei=5 * 10**15,  # 50 gwei per gas at 100k gas
        max_spend_per_hour_wei=0,
        spent_last_hour_wei=0,
        in_flight_wei=0,
    )
    assert reason is not None and reason.startswith("fees above cap: quote 100 gwei > cap 50 gwei")


def test_hourly_cap_counts_paid_and_in_flight() -> None:
    quote = FeeQuote(10 * GWEI, 1 * GWEI)
    args = {"max_fee_per_tx_wei": 0, "max_spend_per_hour_wei": 10**15, "in_flight_wei": 4 * 10**14}
    assert cap_reason(quote, 21_000, spent_last_hour_wei=0, **args) is None
    reason = cap_reason(quote, 21_000, spent_last_hour_wei=6 * 10**14, **args)
    assert reason is not None and reason.startswith("fees above cap: hourly spend")


def test_no_caps_configured_never_waits() -> None:
    quote = FeeQuote(10**6 * GWEI, GWEI)
    none = {"max_fee_per_tx_wei": 0, "max_spend_per_hour_wei": 0, "spent_last_hour_wei": 10**30, "in_flight_wei": 0}
    assert cap_reason(quote, 30_000_000, **none) is None


def test_default_caps_let_a_full_polygon_batch_through_and_stop_a_runaway() -> None:
    settings = Settings(_env_file=None)
    caps = {
        "max_fee_per_tx_wei": settings.max_fee_per_tx_wei,
        "max_fee_per_gas_wei": settings.max_fee_per_gas_wei,
        "max_spend_per_hour_wei": settings.max_spend_per_hour_wei,
    }
    assert all(caps.values())  # on by default
    spike = FeeQuote(3_000 * GWEI, 30 * GWEI)  # a bad Polygon spike: a full 15M-gas batch costs 45 POL
    assert cap_reason(spike, 15_000_000, spent_last_hour_wei=0, in_flight_wei=0, **caps) is None
    runaway = FeeQuote(20_000 * GWEI, 30 * GWEI)  # replacements escalating past any sane price
    reason = cap_reason(runaway, 21_000, spent_last_hour_wei=0, in_flight_wei=0, **caps)
    assert reason is not None and "LOYALTY_MAX_FEE_PER_GAS_WEI" in reason
    hourly = cap_reason(spike, 15_000_000, spent_last_hour_wei=990 * 10**18, in_flight_wei=0, **caps)
    assert hourly is not None and hourly.startswith("fees above cap: hourly spend")


def test_a_transaction_is_underpriced_when_its_max_fee_or_its_tip_is_below_what_the_chain_needs() -> None:
    needed = FeeQuote(40 * GWEI, 30 * GWEI)
    assert not underpriced(FeeQuote(60 * GWEI, 30 * GWEI), needed)  # covers the next block: the pool takes it
    assert underpriced(FeeQuote(39 * GWEI, 30 * GWEI), needed)  # base fee rose past it
    assert underpriced(FeeQuote(60 * GWEI, 25 * GWEI), needed)  # tip below the chain's minimum / the market
    assert not underpriced(FeeQuote(40 * GWEI, None), FeeQuote(40 * GWEI, None))  # legacy: gasPrice only
