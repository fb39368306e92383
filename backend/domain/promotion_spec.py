"""Promotion definitions as brands write them: rules (fixed, rate, first purchase, referral, tier multiplier),
caps, budget and schedule, validated on write (`backend.domain.rules` evaluates them)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.domain.rules_amounts import Money, TokenAmount, check_tokens
from backend.domain.tiers import TIERS

ACTION_TYPES = ("purchase", "refund", "referral", "promotion", "custom")
ActionTypeName = Annotated[str, Field(pattern=r"^(purchase|referral|promotion|custom(:[a-z0-9_.-]{1,64})?)$")]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="stable name of the rule inside the promotion")


class FixedRule(_Rule):
    kind: Literal["fixed"]
    action_types: list[ActionTypeName] = Field(min_length=1, max_length=10)
    amount: TokenAmount


class RateRule(_Rule):
    """`tokens` per `per` units of `currency` (e.g. 10 tokens per 1.00 EUR), rounded to `round_to` tokens."""

    kind: Literal["rate"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    per: Money = Decimal(1)
    tokens: TokenAmount
    rounding: Literal["floor", "half_up"] = "floor"
    round_to: TokenAmount = Decimal(1)

    @model_validator(mode="after")
    def _positive(self) -> RateRule:
        if self.per <= 0 or self.round_to <= 0:
            raise ValueError("per and round_to must be positive")
        return self


class FirstPurchaseRule(_Rule):
    kind: Literal["first_purchase"]
    amount: TokenAmount


class ReferralRule(_Rule):
    """Paid once per referee (the action's wallet) and never when referrer == referee."""

    kind: Literal["referral"]
    referrer_amount: TokenAmount = Decimal(0)
    referee_amount: TokenAmount = Decimal(0)


Multiplier = Annotated[Decimal, Field(gt=0, le=100, max_digits=8, decimal_places=4)]


class TierMultiplierRule(_Rule):
    """Scales a wallet's credit by its tier: `{"gold": "2"}` doubles it for gold shoppers (other tiers: × 1).

    NOTE: tiers are not defined here but by the platform's tier thresholds (the brand's own, or the platform's
    across brands), so a promotion's "gold" is always the gold the shopper's profile shows.
    """

    kind: Literal["tier_multiplier"]
    basis: Literal["brand", "platform"] = Field(
        default="brand", description="brand: lifetime earned with this brand; platform: across all brands"
    )
    multipliers: dict[str, Multiplier] = Field(min_length=1, max_length=len(TIERS), description="tier → multiplier")

    @model_validator(mode="after")
    def _known_tiers(self) -> TierMultiplierRule:
        unknown = sorted(set(self.multipliers) - set(TIERS))
        if unknown:
            raise ValueError(f"unknown tiers {unknown}; tiers are {', '.join(TIERS)}")
        return self


Rule = Annotated[
    FixedRule | RateRule | FirstPurchaseRule | ReferralRule | TierMultiplierRule, Field(discriminator="kind")
]


class Caps(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    per_wallet_per_day: TokenAmount | None = None  # UTC days
    per_wallet_total: TokenAmount | None = None


class PromotionSpec(BaseModel):
    """What a brand sends to create or edit a promotion (every edit becomes a new version)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(default=0, ge=-1000, le=1000)
    exclusive: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    budget: TokenAmount | None = Field(default=None, description="total tokens this promotion may ever pay")
    caps: Caps = Caps()
    pay_in_brand_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="pay in another brand's token (needs consent)"
    )
    pay_in_coalition: bool = Field(default=False, description="pay in the coalition token (needs consent)")
    rules: list[Rule] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> PromotionSpec:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        for moment in (self.starts_at, self.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("starts_at/ends_at need a timezone (UTC: ...Z)")
        if self.pay_in_coalition and self.pay_in_brand_id is not None:
            raise ValueError("choose pay_in_brand_id or pay_in_coalition, not both")
        keys = [r.key for r in self.rules]
        if len(set(keys)) != len(keys):
            raise ValueError("rule keys must be unique within a promotion")
        if sum(isinstance(r, TierMultiplierRule) for r in self.rules) > 1:
            raise ValueError("at most one tier_multiplier rule")
        return self


def check_spec_amounts(spec: PromotionSpec, decimals: int = 18) -> None:
    """Refuse (422 `amount-out-of-range`) a rule whose credit could never be minted, even before caps clip it.

    Fixed amounts count with the largest tier multiplier; a rate's result depends on the purchase and is checked
    per action (`Evaluator.evaluate`), here only its `tokens` and `round_to` themselves.
    """
    tier = next((r for r in spec.rules if isinstance(r, TierMultiplierRule)), None)
    most = max([Decimal(1), *tier.multipliers.values()]) if tier is not None else Decimal(1)
    for rule in spec.rules:
        what = f"rule {rule.key!r}"
        if isinstance(rule, (FixedRule, FirstPurchaseRule)):
            check_tokens(rule.amount * most, f"{what}: amount (times the largest tier multiplier)", decimals)
        elif isinstance(rule, ReferralRule):
            check_tokens(
                rule.referrer_amount * most, f"{what}: referrer_amount (times the largest multiplier)", decimals
            )
            check_tokens(rule.referee_amount * most, f"{what}: referee_amount (times the largest multiplier)", decimals)
        elif isinstance(rule, RateRule):
            check_tokens(rule.tokens, f"{what}: tokens", decimals)
            check_tokens(rule.round_to, f"{what}: round_to", decimals)
