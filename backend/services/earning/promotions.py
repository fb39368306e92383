"""Promotions: versioned rule sets (every edit is a new version), payout token + consent, cached per brand."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from backend.adapters.orm.earning import Brand, Promotion, PromotionVersion
from backend.domain.promotion_spec import PromotionSpec, check_spec_amounts
from backend.domain.rules import ActivePromotion
from backend.domain.rules_amounts import to_base_units
from backend.errors import Forbidden, NotFound
from backend.services.foundation.brands import get_brand, has_consent

CACHE_TTL_S = 5.0  # edits made by another process are seen within this time


class ConsentRequired(Forbidden):
    code = "consent-required"
    title = "The token's owner has not consented to this brand paying in it"


@dataclass(frozen=True)
class PromotionView:
    promotion: Promotion
    version: PromotionVersion


def _payout_token(session: Session, brand: Brand, spec: PromotionSpec, coalition_address: str) -> tuple[int, str]:
    """The token a promotion pays in; another brand's or the coalition token needs a recorded consent."""
    if spec.pay_in_coalition:
        token = coalition_address
    elif spec.pay_in_brand_id is not None and spec.pay_in_brand_id != brand.id:
        token = get_brand(session, spec.pay_in_brand_id).token_address
    else:
        return brand.chain_id, brand.token_address
    if token != brand.token_address and not has_consent(session, token, brand.id):
        raise ConsentRequired(f"brand {brand.id} has no consent to pay in token {token}")
    return brand.chain_id, token


def create_promotion(
    session: Session, brand_id: int, spec: PromotionSpec, coalition_address: str, created_by: str
) -> PromotionView:
    brand = get_brand(session, brand_id)
    check_spec_amounts(spec, brand.token_decimals)
    chain_id, token = _payout_token(session, brand, spec, coalition_address)
    budget = None if spec.budget is None else to_base_units(spec.budget, brand.token_decimals)
    promotion = Promotion(brand_id=brand_id, name=spec.name, current_version=1, budget=budget, spent=0)
    session.add(promotion)
    session.flush()
    return _new_version(session, brand_id, promotion, spec, chain_id, token, created_by)


def update_promotion(
    session: Session, brand_id: int, promotion_id: int, spec: PromotionSpec, coalition_address: str, created_by: str
) -> PromotionView:
    """A new version; credits already granted keep the version that produced them. `spent` carries over."""
    brand = get_brand(session, brand_id)
    check_spec_amounts(spec, brand.token_decimals)
    promotion = _promotion(session, brand_id, promotion_id, lock=True)
    chain_id, token = _payout_token(session, brand, spec, coalition_address)
    promotion.current_version += 1
    promotion.name = spec.name
    promotion.budget = None if spec.budget is None else to_base_units(spec.budget, brand.token_decimals)
    return _new_version(session, brand_id, promotion, spec, chain_id, token, created_by)


def _new_version(
    session: Session,
    brand_id: int,
    promotion: Promotion,
    spec: PromotionSpec,
    chain_id: int,
    token: str,
    created_by: str,
) -> PromotionView:
    """Store `spec` as the promotion's `current_version` and drop the brand's cached rule sets."""
    version = PromotionVersion(
        promotion_id=promotion.id,
        version=promotion.current_version,
        definition=spec.model_dump(mode="json"),
        chain_id=chain_id,
        token_address=token,
        created_by=created_by,
    )
    session.add(version)
    session.flush()
    promotion_cache.invalidate(brand_id)
    return PromotionView(promotion, version)


def _promotion(session: Session, brand_id: int, promotion_id: int, lock: bool = False) -> Promotion:
    query = select(Promotion).where(Promotion.id == promotion_id)
    if lock:
        query = query.with_for_update()
    promotion = session.scalar(query)
    if promotion is None or promotion.brand_id != brand_id:
        raise NotFound(f"promotion {promotion_id} not found")
    return promotion


def get_promotion(session: Session, brand_id: int, promotion_id: int, version: int | None = None) -> PromotionView:
    promotion = _promotion(session, brand_id, promotion_id)
    wanted = version or promotion.current_version
    row = session.scalar(
        select(PromotionVersion).where(
            PromotionVersion.promotion_id == promotion_id, PromotionVersion.version == wanted
        )
    )
    if row is None:
        raise NotFound(f"promotion {promotion_id} has no version {wanted}")
    return PromotionView(promotion, row)


def list_promotions(session: Session, brand_id: int) -> list[PromotionView]:
    rows = session.execute(
        select(Promotion, PromotionVersion)
        .join(
            PromotionVersion,
            (PromotionVersion.promotion_id == Promotion.id) & (PromotionVersion.version == Promotion.current_version),
        )
        .where(Promotion.brand_id == brand_id)
        .order_by(Promotion.id)
    ).tuples()
    return [PromotionView(p, v) for p, v in rows]


def load_active(session: Session, brand_id: int) -> list[ActivePromotion]:
    """Current versions of a brand's promotions as the rules engine sees them (uncached)."""
    return [
        ActivePromotion(
            promotion_id=view.promotion.id,
            version=view.version.version,
            chain_id=view.version.chain_id,
            token_address=view.version.token_address,
            spec=PromotionSpec.model_validate(view.version.definition),
        )
        for view in list_promotions(session, brand_id)
    ]


class PromotionCache:
    """Per-process cache of a brand's active promotions: rules are evaluated in memory, not re-read per action."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # per engine (tests build many), then per brand: (loaded at, promotions)
        self._entries: weakref.WeakKeyDictionary[Engine, dict[int, tuple[float, list[ActivePromotion]]]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, session: Session, brand_id: int) -> list[ActivePromotion]:
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        per_brand = self._entries.get(engine, {})
        entry = per_brand.get(brand_id)
        now = time.monotonic()
        if entry is not None and now - entry[0] < CACHE_TTL_S:
            return entry[1]
        promotions = load_active(session, brand_id)
        with self._lock:
            self._entries.setdefault(engine, {})[brand_id] = (now, promotions)
        return promotions

    def invalidate(self, brand_id: int) -> None:
        with self._lock:
            for per_brand in self._entries.values():
                per_brand.pop(brand_id, None)


promotion_cache = PromotionCache()
