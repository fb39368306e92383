"""A shopper's own data under `/v1/me/...` (and `/v1/shoppers/{wallet}/...`, 403 for another wallet);
brand tier thresholds under `/v1/brands/{id}/tiers`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backend.domain import preferences as prefs
from backend.domain.addresses import Address
from backend.domain.preferences import check_preferences
from backend.domain.rules_amounts import TokenAmount
from backend.domain.tiers import TierError, TierStatus, TierThresholds
from backend.entrypoints.api.auth import Principal, ensure_brand_access, require_scope
from backend.entrypoints.api.deps import SessionDep
from backend.entrypoints.api.shopper_auth import CurrentShopper, ensure_own_wallet
from backend.errors import InvalidInput
from backend.services.earning import tiers as tier_service
from backend.services.foundation.brands import get_brand
from backend.services.shoppers import profiles as shopper_service

RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]  # a 32-bit primary key; larger ids are 422
router = APIRouter(tags=["shoppers"])
Editor = Annotated[Principal, Depends(require_scope("promotions:write"))]


class TierOut(BaseModel):
    tier: str
    lifetime_tokens: str
    next_tier: str | None
    next_tier_at: str | None
    remaining_tokens: str | None
    progress: str = Field(description="0..1 of the way to the next tier")


class BrandTierOut(TierOut):
    brand_id: int


class LinkedCustomerOut(BaseModel):
    brand_id: int
    brand_slug: str
    customer_id: str


class ProfileOut(BaseModel):
    wallet: str
    email: str | None
    preferences: dict[str, Any]
    marketing_consent: bool
    marketing_consent_at: datetime | None
    tier: TierOut = Field(description="across all brands, platform thresholds")
    brand_tiers: list[BrandTierOut]
    linked_customers: list[LinkedCustomerOut]


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    preferences: Annotated[dict[str, Any], AfterValidator(check_preferences)] | None = Field(
        default=None,
        description=f"free-form JSON: at most {prefs.MAX_DEPTH} levels, {prefs.MAX_ITEMS} keys/items per level, "
        f"keys ≤ {prefs.MAX_KEY_CHARS} and strings ≤ {prefs.MAX_STRING_CHARS} characters, {prefs.MAX_BYTES} bytes",
    )
    marketing_consent: bool | None = None


class ThresholdsIo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    silver: TokenAmount
    gold: TokenAmount
    platinum: TokenAmount


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _tier(status: TierStatus) -> dict[str, Any]:
    return {
        "tier": status.tier,
        "lifetime_tokens": _plain(status.lifetime),
        "next_tier": status.next_tier,
        "next_tier_at": _plain(status.next_at),
        "remaining_tokens": _plain(status.remaining),
        "progress": _plain(status.progress),
    }


def _profile(session: SessionDep, wallet: str) -> ProfileOut:
    shopper = shopper_service.ensure_shopper(session, wallet)
    tiers = tier_service.wallet_tiers(session, wallet)
    return ProfileOut(
        wallet=wallet,
        email=shopper.email,
        preferences=prefs.readable_preferences(shopper.preferences),
        marketing_consent=shopper.marketing_consent,
        marketing_consent_at=shopper.marketing_consent_at,
        tier=TierOut(**_tier(tiers.overall)),
        brand_tiers=[BrandTierOut(brand_id=b, **_tier(t)) for b, t in tiers.by_brand.items()],
        linked_customers=[
            LinkedCustomerOut(brand_id=c.brand_id, brand_slug=c.brand_slug, customer_id=c.customer_id)
            for c in shopper_service.linked_customers(session, wallet)
        ],
    )


@router.get("/v1/me/profile", response_model=ProfileOut, summary="The signed-in shopper's profile and tiers")
def my_profile(shopper: CurrentShopper, session: SessionDep) -> ProfileOut:
    out = _profile(session, shopper)
    session.commit()
    return out


@router.patch("/v1/me/profile", response_model=ProfileOut, summary="Change email, preferences or marketing consent")
def update_my_profile(body: ProfileIn, shopper: CurrentShopper, session: SessionDep) -> ProfileOut:
    shopper_service.update_profile(session, shopper, **body.model_dump(exclude_unset=True))
    out = _profile(session, shopper)  # NOTE: built before the commit: a request that cannot be answered changes nothing
    session.commit()
    return out


@router.get("/v1/shoppers/{wallet}/profile", response_model=ProfileOut, summary="A shopper's profile (own only)")
def shopper_profile(wallet: Address, shopper: CurrentShopper, session: SessionDep) -> ProfileOut:
    ensure_own_wallet(shopper, wallet)
    return my_profile(shopper, session)


@router.get("/v1/brands/{brand_id}/tiers", response_model=ThresholdsIo, summary="A brand's tier thresholds")
def get_tiers(brand_id: RowId, session: SessionDep) -> ThresholdsIo:
    get_brand(session, brand_id)
    t = tier_service.brand_thresholds(session, brand_id)
    return ThresholdsIo(silver=t.silver, gold=t.gold, platinum=t.platinum)


@router.put("/v1/brands/{brand_id}/tiers", response_model=ThresholdsIo, summary="Set a brand's tier thresholds")
def put_tiers(brand_id: RowId, body: ThresholdsIo, session: SessionDep, principal: Editor) -> ThresholdsIo:
    ensure_brand_access(principal, brand_id)
    try:
        thresholds = TierThresholds(body.silver, body.gold, body.platinum)
    except TierError as exc:
        raise InvalidInput(str(exc)) from exc
    tier_service.set_brand_thresholds(session, brand_id, thresholds)
    session.commit()
    return body
