"""Offers a brand publishes and why a wallet may or may not claim one (pure rules, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.domain.tiers import tier_rank

# In the order a shopper should read them: timing first, then stock, then what the wallet lacks.
REASONS = ("not_started", "ended", "out_of_stock", "tier_too_low", "limit_reached", "insufficient_balance")


@dataclass(frozen=True)
class OfferTerms:
    cost: int  # base units
    stock_left: int
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    per_wallet_limit: int | None = None
    min_tier: str | None = None
    min_balance: int = 0  # base units the wallet must hold to claim (at least the cost in any case)


@dataclass(frozen=True)
class WalletFacts:
    spendable: int  # on-chain balance minus this wallet's pending redemptions, base units
    tier: str
    claimed: int  # pending + confirmed redemptions of this offer


def ineligibility(terms: OfferTerms, wallet: WalletFacts, now: datetime) -> list[str]:
    """Every reason the wallet cannot claim the offer now (empty: it can)."""
    reasons = []
    if terms.starts_at is not None and now < terms.starts_at:
        reasons.append("not_started")
    if terms.ends_at is not None and now >= terms.ends_at:
        reasons.append("ended")
    if terms.stock_left <= 0:
        reasons.append("out_of_stock")
    if terms.min_tier is not None and tier_rank(wallet.tier) < tier_rank(terms.min_tier):
        reasons.append("tier_too_low")
    if terms.per_wallet_limit is not None and wallet.claimed >= terms.per_wallet_limit:
        reasons.append("limit_reached")
    if wallet.spendable < max(terms.cost, terms.min_balance):
        reasons.append("insufficient_balance")
    return reasons
