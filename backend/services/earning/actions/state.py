"""What the rules need to evaluate a call's actions: the brand's token, the wallets' state, budgets and caps."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from backend.adapters.bulk import ensure_and_lock, matching
from backend.adapters.orm.earning import Brand, BrandWallet, Promotion, PromotionUsage
from backend.domain.actions import ActionIn
from backend.domain.promotion_spec import TierMultiplierRule
from backend.domain.rules import ActionFacts, ActivePromotion, EarnedCredit, EvaluatorState, NoCredit, WalletState
from backend.errors import NotFound
from backend.services.earning import tiers as tier_service


@dataclass(frozen=True)
class BrandInfo:
    id: int
    chain_id: int
    token_address: str
    decimals: int


_brands: weakref.WeakKeyDictionary[Engine, dict[int, BrandInfo]] = weakref.WeakKeyDictionary()


def brand_info(session: Session, brand_id: int) -> BrandInfo:
    """Brands never change token, so their facts are cached per process."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    cached = _brands.get(engine, {}).get(brand_id)
    if cached is None:
        brand = session.get(Brand, brand_id)
        if brand is None:
            raise NotFound(f"brand {brand_id} not found")
        cached = BrandInfo(brand.id, brand.chain_id, brand.token_address, brand.token_decimals)
        _brands.setdefault(engine, {})[brand_id] = cached
    return cached


@dataclass
class PendingAction:
    """An action evaluated in memory, waiting for the call's bulk write."""

    index: int
    action: ActionIn
    body_hash: str
    public_id: str
    credits: list[EarnedCredit]
    reasons: list[NoCredit]  # why nothing was earned (only when `credits` is empty)


def facts(action: ActionIn, now: datetime) -> ActionFacts:
    return ActionFacts(
        type=action.type,
        wallet=action.wallet,
        at=now,
        amount=action.amount,
        currency=action.currency,
        referrer=action.referrer,
        promotion_id=action.promotion_id,
        custom_type=action.custom_type,
    )


def load_state(
    session: Session,
    brand_id: int,
    wallets: set[str],
    promotions: list[ActivePromotion],
    now: datetime,
    *,
    lock: bool,
) -> tuple[EvaluatorState, dict[str, Any]]:
    """What the rules need about these wallets (locked when about to write) and the promotions' budget left."""
    state = EvaluatorState()
    keys = [(brand_id, w) for w in wallets]
    if lock:
        rows = ensure_and_lock(
            session,
            BrandWallet.__table__,  # type: ignore[arg-type]
            ["brand_id", "wallet"],
            keys,
            {"lifetime_earned": 0, "created_at": now},
        )
    else:
        rows = []
        for among in matching(session, BrandWallet.wallet, sorted(wallets)):
            rows += session.execute(select(BrandWallet.__table__).where(BrandWallet.brand_id == brand_id, among)).all()
    loaded = {}
    for row in rows:
        state.wallets[row.wallet] = WalletState(
            row.lifetime_earned, row.first_purchase_action_id is not None, row.referred_by
        )
        loaded[row.wallet] = row
    _load_tiers(session, brand_id, wallets, promotions, state)
    budgeted = [p.promotion_id for p in promotions if p.spec.budget is not None]
    if budgeted:
        for pid, budget, spent in session.execute(
            select(Promotion.id, Promotion.budget, Promotion.spent).where(Promotion.id.in_(budgeted))
        ).tuples():
            state.budget_left[pid] = None if budget is None else max(0, budget - spent)
    capped = [p.promotion_id for p in promotions if p.spec.caps.per_wallet_per_day or p.spec.caps.per_wallet_total]
    if capped and wallets:
        periods = [now.strftime("%Y-%m-%d"), "total"]
        for among in matching(session, PromotionUsage.wallet, sorted(wallets)):
            for pid, wallet, period, amount in session.execute(
                select(PromotionUsage.promotion_id, PromotionUsage.wallet, PromotionUsage.period, PromotionUsage.amount)
                .where(PromotionUsage.promotion_id.in_(capped), among)
                .where(PromotionUsage.period.in_(periods))
            ).tuples():
                state.usage[(pid, wallet, period)] = amount
    return state, loaded


def _load_tiers(
    session: Session, brand_id: int, wallets: set[str], promotions: list[ActivePromotion], state: EvaluatorState
) -> None:
    """The tier thresholds (and, for tiers across brands, lifetime earned elsewhere) the tier multipliers need."""
    rules = [r for p in promotions for r in p.spec.rules if isinstance(r, TierMultiplierRule)]
    if not rules:
        return
    state.tiers = tier_service.tier_basis(session, brand_id)
    if any(r.basis == "platform" for r in rules):
        for wallet, tokens in tier_service.other_brands_lifetime(session, brand_id, list(wallets)).items():
            state.wallet(wallet).other_brands_lifetime = tokens
