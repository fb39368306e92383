"""The rules engine: the pure, in-memory evaluation of promotions (their definitions: `promotion_spec`).

A promotion is a set of rules paying in one token. Per action, promotions are evaluated by priority (highest
first, then oldest); a promotion marked `exclusive` that credits anything stops lower-priority promotions.
Inside a promotion: fixed / rate / first-purchase / referral rules add up, the tier multiplier scales that sum
per wallet, then per-wallet caps clip it, then the remaining budget clips it. Amounts leave as token base units
(int). The tier is the one the shopper's profile shows (`backend.domain.tiers`, thresholds loaded by
`backend.services.earning.tiers`): from lifetime earned with the brand, or across brands.

`Evaluator` keeps the batch's running state (first purchases, referrals, cap usage, budget, lifetime earned), so
a batch of actions is evaluated exactly as if the actions had arrived one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from backend.domain.promotion_spec import (
    FirstPurchaseRule,
    FixedRule,
    PromotionSpec,
    RateRule,
    ReferralRule,
    TierMultiplierRule,
)
from backend.domain.rules_amounts import (
    MAX_TOKEN_UNITS,
    AmountOutOfRange,
    from_base_units,
    quantize,
    to_base_units,
)
from backend.domain.tiers import DEFAULT_THRESHOLDS, TierThresholds, lifetime_tokens, tier_status


@dataclass(frozen=True)
class ActivePromotion:
    """A promotion's current version as the evaluator sees it."""

    promotion_id: int
    version: int
    chain_id: int
    token_address: str
    spec: PromotionSpec
    decimals: int = 18


@dataclass(frozen=True)
class ActionFacts:
    type: str
    wallet: str
    at: datetime
    amount: Decimal | None = None
    currency: str | None = None
    referrer: str | None = None
    promotion_id: int | None = None
    custom_type: str | None = None

    @property
    def type_name(self) -> str:
        return f"custom:{self.custom_type}" if self.type == "custom" and self.custom_type else self.type


@dataclass(frozen=True)
class EarnedCredit:
    """What one promotion pays one wallet for an action (the rules engine's output)."""

    wallet: str
    amount: int  # token base units, > 0
    promotion_id: int
    version: int
    rule_id: str  # "p<promotion>v<version>:<rule key>[+<rule key>...]"
    chain_id: int
    token_address: str


# Why an action earned nothing (stable codes, shown in the action's answer and the shopper's rewards view).
NO_CREDIT_REASONS = (
    "no-active-promotion",  # the brand has no live promotion (or not the one a `promotion` action names)
    "promotion-not-started",
    "promotion-ended",
    "no-matching-rule",  # no rule of the promotion pays this action type
    "currency-mismatch",  # rate rules pay purchases in other currencies
    "amount-too-small",  # the rules' result rounds to zero
    "not-first-purchase",
    "already-referred",
    "daily-cap-reached",
    "wallet-cap-reached",
    "budget-exhausted",
)


@dataclass(frozen=True)
class NoCredit:
    code: str  # one of NO_CREDIT_REASONS
    promotion_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code}
        if self.promotion_id is not None:
            out["promotion_id"] = self.promotion_id
        return out


@dataclass
class WalletState:
    lifetime_earned: int = 0  # base units earned with the brand (all its promotions)
    has_purchased: bool = False
    referred_by: str | None = None
    other_brands_lifetime: Decimal = Decimal(0)  # whole tokens earned with other brands (platform-basis tiers)


@dataclass(frozen=True)
class TierBasis:
    """What a wallet's tier is computed from; the service loads the brand's and the platform's thresholds."""

    brand: TierThresholds = DEFAULT_THRESHOLDS
    platform: TierThresholds = DEFAULT_THRESHOLDS
    decimals: int = 18  # of the brand's token: the unit `lifetime_earned` is counted in

    def tier(self, wallet: WalletState, basis: str) -> str:
        with_brand = lifetime_tokens(wallet.lifetime_earned, self.decimals)
        if basis == "platform":
            return tier_status(with_brand + wallet.other_brands_lifetime, self.platform).tier
        return tier_status(with_brand, self.brand).tier


@dataclass
class EvaluatorState:
    """Mutable facts the evaluator reads and updates; loaded by the service for the batch's wallets."""

    wallets: dict[str, WalletState] = field(default_factory=dict)
    usage: dict[tuple[int, str, str], int] = field(default_factory=dict)  # (promotion, wallet, period) → units
    budget_left: dict[int, int | None] = field(default_factory=dict)  # promotion → base units (None: unlimited)
    tiers: TierBasis = field(default_factory=TierBasis)

    def wallet(self, address: str) -> WalletState:
        return self.wallets.setdefault(address, WalletState())


def _is_live(promo: ActivePromotion, at: datetime) -> bool:
    spec = promo.spec
    return (spec.starts_at is None or spec.starts_at <= at) and (spec.ends_at is None or at < spec.ends_at)


class Evaluator:
    """Evaluates actions against a brand's live promotions, updating `state` as credits are granted."""

    def __init__(self, promotions: list[ActivePromotion], state: EvaluatorState) -> None:
        self.promotions = sorted(promotions, key=lambda p: (-p.spec.priority, p.promotion_id))
        self.state = state

    def evaluate(self, action: ActionFacts, reasons: list[NoCredit] | None = None) -> list[EarnedCredit]:
        """The action's credits (`AmountOutOfRange`, nothing counted, when one could not be minted); when there are
        none and `reasons` is given, why (appended to it)."""
        live = [
            p
            for p in self.promotions
            if _is_live(p, action.at) and (action.type != "promotion" or action.promotion_id == p.promotion_id)
        ]
        # NOTE: every promotion's result is priced before any budget or cap is touched, so a refused action
        # leaves the batch's running state as it was.
        earned = [(promo, self._earned(promo, action)) for promo in live]
        for promo, lines in earned:
            for wallet, amount, _ in lines:
                if amount > MAX_TOKEN_UNITS:
                    raise AmountOutOfRange(
                        f"this action would earn {from_base_units(amount, promo.decimals)} tokens for {wallet}"
                        f" (promotion {promo.promotion_id}); one credit is at most"
                        f" {from_base_units(MAX_TOKEN_UNITS, promo.decimals)} tokens"
                    )
        credits: list[EarnedCredit] = []
        for promo, lines in earned:
            granted = self._grant(promo, lines, action.at)
            credits += granted
            if granted and promo.spec.exclusive:
                break
        if not credits and reasons is not None:  # NOTE: before `_remember`: the state the rules just saw
            reasons += self._why_nothing(action)
        self._remember(action, credits)
        return credits

    def _why_nothing(self, action: ActionFacts) -> list[NoCredit]:
        reasons = [
            NoCredit(self._why_not(promo, action), promo.promotion_id)
            for promo in self.promotions
            if action.type != "promotion" or action.promotion_id == promo.promotion_id
        ]
        return reasons or [NoCredit("no-active-promotion", action.promotion_id)]

    def _why_not(self, promo: ActivePromotion, action: ActionFacts) -> str:
        spec = promo.spec
        if spec.starts_at is not None and action.at < spec.starts_at:
            return "promotion-not-started"
        if spec.ends_at is not None and action.at >= spec.ends_at:
            return "promotion-ended"
        per_wallet, tier_rule = self._gross(promo, action)
        if not per_wallet:
            return self._rule_miss(promo, action)
        day, caps, usage, pid = action.at.strftime("%Y-%m-%d"), spec.caps, self.state.usage, promo.promotion_id
        for wallet, (tokens, _) in per_wallet.items():
            if tier_rule is not None:
                tier = self.state.tiers.tier(self.state.wallet(wallet), tier_rule.basis)
                tokens *= tier_rule.multipliers.get(tier, Decimal(1))
            if to_base_units(tokens, promo.decimals) <= 0:
                return "amount-too-small"
            if caps.per_wallet_per_day is not None and usage.get((pid, wallet, day), 0) >= to_base_units(
                caps.per_wallet_per_day, promo.decimals
            ):
                return "daily-cap-reached"
            if caps.per_wallet_total is not None and usage.get((pid, wallet, "total"), 0) >= to_base_units(
                caps.per_wallet_total, promo.decimals
            ):
                return "wallet-cap-reached"
        return "budget-exhausted" if self.state.budget_left.get(pid) is not None else "amount-too-small"

    def _rule_miss(self, promo: ActivePromotion, action: ActionFacts) -> str:
        rules = promo.spec.rules
        if action.type == "purchase":
            rates = [r for r in rules if isinstance(r, RateRule)]
            if rates and all(r.currency != action.currency for r in rates):
                return "currency-mismatch"
            if rates:
                return "amount-too-small"
            if any(isinstance(r, FirstPurchaseRule) for r in rules):
                return "not-first-purchase"
        if action.type == "referral" and any(isinstance(r, ReferralRule) for r in rules):
            return "already-referred"
        return "no-matching-rule"

    def _earned(self, promo: ActivePromotion, action: ActionFacts) -> list[tuple[str, int, list[str]]]:
        """(wallet, base units before caps and budget, rule keys) per credited wallet; reads state only."""
        per_wallet, tier_rule = self._gross(promo, action)
        lines = []
        for wallet, (tokens, keys) in per_wallet.items():
            if tier_rule is not None:
                tier = self.state.tiers.tier(self.state.wallet(wallet), tier_rule.basis)
                multiplier = tier_rule.multipliers.get(tier, Decimal(1))
                if multiplier != 1:
                    tokens *= multiplier
                    keys = [*keys, tier_rule.key]
            lines.append((wallet, to_base_units(tokens, promo.decimals), keys))
        return lines

    def _gross(
        self, promo: ActivePromotion, action: ActionFacts
    ) -> tuple[dict[str, tuple[Decimal, list[str]]], TierMultiplierRule | None]:
        """What the rules pay per wallet before tiers, caps and budget (and the tier rule, if any)."""
        per_wallet: dict[str, tuple[Decimal, list[str]]] = {}

        def add(wallet: str, tokens: Decimal, key: str) -> None:
            if tokens > 0:
                total, keys = per_wallet.get(wallet, (Decimal(0), []))
                per_wallet[wallet] = (total + tokens, [*keys, key])

        tier_rule: TierMultiplierRule | None = None
        for rule in promo.spec.rules:
            if isinstance(rule, FixedRule) and action.type_name in rule.action_types:
                add(action.wallet, rule.amount, rule.key)
            elif isinstance(rule, RateRule):
                if action.type == "purchase" and action.amount is not None and action.currency == rule.currency:
                    add(
                        action.wallet,
                        quantize(action.amount / rule.per * rule.tokens, rule.round_to, rule.rounding),
                        rule.key,
                    )
            elif isinstance(rule, FirstPurchaseRule):
                if action.type == "purchase" and not self.state.wallet(action.wallet).has_purchased:
                    add(action.wallet, rule.amount, rule.key)
            elif isinstance(rule, ReferralRule):
                referee = self.state.wallet(action.wallet)
                first_referral = action.type == "referral" and referee.referred_by is None
                if first_referral and action.referrer and action.referrer != action.wallet:
                    add(action.referrer, rule.referrer_amount, rule.key)
                    add(action.wallet, rule.referee_amount, rule.key)
            elif isinstance(rule, TierMultiplierRule):
                tier_rule = rule
        return per_wallet, tier_rule

    def _grant(
        self, promo: ActivePromotion, lines: list[tuple[str, int, list[str]]], at: datetime
    ) -> list[EarnedCredit]:
        credits = []
        for wallet, earned, keys in lines:
            amount = self._clip(promo, wallet, earned, at)
            if amount > 0:
                rule_id = f"p{promo.promotion_id}v{promo.version}:{'+'.join(keys)}"[:64]
                credits.append(
                    EarnedCredit(
                        wallet, amount, promo.promotion_id, promo.version, rule_id, promo.chain_id, promo.token_address
                    )
                )
        return credits

    def _clip(self, promo: ActivePromotion, wallet: str, amount: int, at: datetime) -> int:
        """Apply per-wallet caps and the budget, and record what was used."""
        caps, pid, usage = promo.spec.caps, promo.promotion_id, self.state.usage
        day = at.strftime("%Y-%m-%d")
        if caps.per_wallet_per_day is not None:
            cap = to_base_units(caps.per_wallet_per_day, promo.decimals)
            amount = min(amount, max(0, cap - usage.get((pid, wallet, day), 0)))
        if caps.per_wallet_total is not None:
            cap = to_base_units(caps.per_wallet_total, promo.decimals)
            amount = min(amount, max(0, cap - usage.get((pid, wallet, "total"), 0)))
        left = self.state.budget_left.get(pid)
        if left is not None:
            amount = min(amount, left)
            self.state.budget_left[pid] = left - amount
        if amount > 0 and (caps.per_wallet_per_day is not None or caps.per_wallet_total is not None):
            for period in (day, "total"):
                usage[(pid, wallet, period)] = usage.get((pid, wallet, period), 0) + amount
        return amount

    def _remember(self, action: ActionFacts, credits: list[EarnedCredit]) -> None:
        if action.type == "purchase":
            self.state.wallet(action.wallet).has_purchased = True
        if action.type == "referral" and action.referrer and action.referrer != action.wallet:
            referee = self.state.wallet(action.wallet)
            if referee.referred_by is None:
                referee.referred_by = action.referrer
        for credit in credits:
            self.state.wallet(credit.wallet).lifetime_earned += credit.amount
