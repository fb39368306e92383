"""Shopper tiers (member < silver < gold < platinum) from lifetime earned tokens, with progress to the next one.

Lifetime earned is gross credit (never decreases, spending does not demote). Thresholds are whole tokens; a
brand may set its own, the platform's apply otherwise and to the cross-brand tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

TIERS = ("member", "silver", "gold", "platinum")


class TierError(ValueError):
    """Thresholds that are not strictly ascending and non-negative, or an unknown tier name."""


def tier_rank(name: str | None) -> int:
    if name is None:
        return 0
    if name not in TIERS:
        raise TierError(f"unknown tier {name!r}; one of {', '.join(TIERS)}")
    return TIERS.index(name)


@dataclass(frozen=True)
class TierThresholds:
    silver: Decimal
    gold: Decimal
    platinum: Decimal

    def __post_init__(self) -> None:
        if not Decimal(0) < self.silver < self.gold < self.platinum:
            raise TierError("tier thresholds must be positive and strictly ascending: silver < gold < platinum")

    def minimum(self, tier: str) -> Decimal:
        return Decimal(0) if tier == "member" else getattr(self, tier)  # type: ignore[no-any-return]

    @classmethod
    def parse(cls, text: str) -> TierThresholds:
        """`silver=100,gold=1000,platinum=5000` (the `LOYALTY_TIER_THRESHOLDS` format)."""
        values: dict[str, Decimal] = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            if name.strip() not in TIERS[1:]:
                raise TierError(f"unknown tier {name.strip()!r} in thresholds {text!r}")
            values[name.strip()] = Decimal(value.strip())
        if set(values) != set(TIERS[1:]):
            raise TierError("thresholds need silver, gold and platinum")
        return cls(**values)


DEFAULT_THRESHOLDS = TierThresholds(Decimal(100), Decimal(1000), Decimal(5000))


def lifetime_tokens(base_units: int, decimals: int) -> Decimal:
    """Lifetime earned with a brand in whole tokens (`brand_wallets.lifetime_earned` is in its token's base units)."""
    return Decimal(int(base_units)) / (Decimal(10) ** decimals)


@dataclass(frozen=True)
class TierStatus:
    tier: str
    lifetime: Decimal  # whole tokens earned
    next_tier: str | None
    next_at: Decimal | None  # lifetime needed for the next tier
    remaining: Decimal | None  # tokens still to earn for it
    progress: Decimal  # 0..1 of the way from this tier's threshold to the next one (1 at the top)


def tier_status(lifetime: Decimal, thresholds: TierThresholds) -> TierStatus:
    tier = "member"
    for name in TIERS[1:]:
        if lifetime >= thresholds.minimum(name):
            tier = name
    rank = TIERS.index(tier)
    if rank == len(TIERS) - 1:
        return TierStatus(tier, lifetime, None, None, None, Decimal(1))
    next_tier = TIERS[rank + 1]
    low, high = thresholds.minimum(tier), thresholds.minimum(next_tier)
    progress = ((lifetime - low) / (high - low)).quantize(Decimal("0.0001"))
    return TierStatus(tier, lifetime, next_tier, high, high - lifetime, min(progress, Decimal(1)))
