"""Tiers of a wallet per brand and across brands, from lifetime earned in `brand_wallets` (the earning ledger).

`tier_for(session, wallet, brand_id)` is what offers use and `tier_basis` what the rules engine's tier multiplier
uses: both end in `backend.domain.tiers.tier_status` over the same lifetime earned and thresholds, so there is one
definition of a tier on the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.bulk import chunks
from backend.adapters.orm.earning import Brand, BrandWallet
from backend.adapters.orm.shoppers import BrandTierThresholds
from backend.config import get_settings
from backend.domain.rules import TierBasis
from backend.domain.tiers import TierStatus, TierThresholds, lifetime_tokens, tier_status
from backend.services.foundation.brands import get_brand


def platform_thresholds() -> TierThresholds:
    return TierThresholds.parse(get_settings().tier_thresholds)


def brand_thresholds(session: Session, brand_id: int, defaults: TierThresholds | None = None) -> TierThresholds:
    row = session.get(BrandTierThresholds, brand_id)
    if row is None:
        return defaults or platform_thresholds()
    return TierThresholds(Decimal(row.silver), Decimal(row.gold), Decimal(row.platinum))


def set_brand_thresholds(session: Session, brand_id: int, thresholds: TierThresholds) -> BrandTierThresholds:
    get_brand(session, brand_id)
    row = session.get(BrandTierThresholds, brand_id) or BrandTierThresholds(brand_id=brand_id)
    row.silver, row.gold, row.platinum = (str(thresholds.silver), str(thresholds.gold), str(thresholds.platinum))
    session.add(row)
    return row


def _lifetime_tokens(session: Session, wallet: str, brand_id: int | None = None) -> dict[int, Decimal]:
    """Whole tokens earned by `wallet` per brand (all brands, or one)."""
    query = (
        select(BrandWallet.brand_id, BrandWallet.lifetime_earned, Brand.token_decimals)
        .join(Brand, Brand.id == BrandWallet.brand_id)
        .where(BrandWallet.wallet == wallet)
    )
    if brand_id is not None:
        query = query.where(BrandWallet.brand_id == brand_id)
    return {b: lifetime_tokens(earned, decimals) for b, earned, decimals in session.execute(query)}


def tier_basis(session: Session, brand_id: int) -> TierBasis:
    """What the rules engine computes a wallet's tier from: the same thresholds the profile uses."""
    return TierBasis(
        brand_thresholds(session, brand_id), platform_thresholds(), get_brand(session, brand_id).token_decimals
    )


def other_brands_lifetime(session: Session, brand_id: int, wallets: list[str]) -> dict[str, Decimal]:
    """Whole tokens each wallet earned with brands other than `brand_id` (for tiers across brands)."""
    totals: dict[str, Decimal] = {}
    for part in chunks(sorted(wallets)):
        rows = session.execute(
            select(BrandWallet.wallet, BrandWallet.lifetime_earned, Brand.token_decimals)
            .join(Brand, Brand.id == BrandWallet.brand_id)
            .where(BrandWallet.wallet.in_(part), BrandWallet.brand_id != brand_id)
        )
        for wallet, earned, decimals in rows:
            totals[wallet] = totals.get(wallet, Decimal(0)) + lifetime_tokens(earned, decimals)
    return totals


def tier_status_for(session: Session, wallet: str, brand_id: int) -> TierStatus:
    lifetime = _lifetime_tokens(session, wallet, brand_id).get(brand_id, Decimal(0))
    return tier_status(lifetime, brand_thresholds(session, brand_id))


def tier_for(session: Session, wallet: str, brand_id: int) -> str:
    """`member` | `silver` | `gold` | `platinum` of `wallet` (checksummed) with `brand_id`."""
    return tier_status_for(session, wallet, brand_id).tier


@dataclass(frozen=True)
class WalletTiers:
    overall: TierStatus  # across brands, platform thresholds
    by_brand: dict[int, TierStatus]


def wallet_tiers(session: Session, wallet: str) -> WalletTiers:
    per_brand = _lifetime_tokens(session, wallet)
    by_brand = {b: tier_status(tokens, brand_thresholds(session, b)) for b, tokens in sorted(per_brand.items())}
    return WalletTiers(tier_status(sum(per_brand.values(), Decimal(0)), platform_thresholds()), by_brand)
