"""Offers: brands publish them (`promotions:write`); anyone may ask which a wallet can claim and why not."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.adapters.orm.shoppers import Offer
from backend.domain.addresses import Address
from backend.domain.rules_amounts import TokenAmount, from_base_units
from backend.domain.timestamps import as_utc
from backend.entrypoints.api.auth import BrandReader, Principal, ensure_brand_access, require_scope
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.strict_types import RfcDateTime, StrictInt
from backend.services.shoppers import offers as offer_service

RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]  # a 32-bit primary key; larger ids are 422
router = APIRouter(tags=["offers"])
Editor = Annotated[Principal, Depends(require_scope("promotions:write"))]
TierName = Literal["member", "silver", "gold", "platinum"]


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    cost: TokenAmount = Field(description="whole tokens burned per redemption (decimal string)")
    stock: StrictInt = Field(ge=1, le=10_000_000)
    starts_at: RfcDateTime | None = None
    ends_at: RfcDateTime | None = None
    per_wallet_limit: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    min_tier: TierName | None = None
    min_balance: TokenAmount = Field(default=Decimal(0), description="whole tokens the wallet must hold to claim")

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone (UTC: ...Z)")
        return value


class OfferOut(BaseModel):
    id: int
    brand_id: int
    title: str
    description: str
    chain_id: int
    token_address: str
    cost: str = Field(description="base units")
    cost_tokens: str
    starts_at: datetime | None
    ends_at: datetime | None
    stock_total: int
    stock_left: int
    per_wallet_limit: int | None
    min_tier: str | None
    min_balance_tokens: str
    created_at: datetime


class AvailabilityOut(BaseModel):
    offer: OfferOut
    claimable: bool
    reasons: list[str] = Field(description="not_started, ended, out_of_stock, tier_too_low, limit_reached, ...")
    tier: str
    claimed: int


class BalanceOut(BaseModel):
    token: str
    on_chain: str
    pending: str
    spendable: str
    source: str


class AvailableOut(BaseModel):
    wallet: str
    offers: list[AvailabilityOut]
    balances: list[BalanceOut]


def offer_out(offer: Offer) -> OfferOut:
    return OfferOut(
        id=offer.id,
        brand_id=offer.brand_id,
        title=offer.title,
        description=offer.description,
        chain_id=offer.chain_id,
        token_address=offer.token_address,
        cost=str(offer.cost),
        cost_tokens=from_base_units(offer.cost, offer.token_decimals),
        starts_at=as_utc(offer.starts_at),
        ends_at=as_utc(offer.ends_at),
        stock_total=offer.stock_total,
        stock_left=offer.stock_left,
        per_wallet_limit=offer.per_wallet_limit,
        min_tier=offer.min_tier,
        min_balance_tokens=from_base_units(offer.min_balance, offer.token_decimals),
        created_at=offer.created_at,
    )


@router.post(
    "/v1/brands/{brand_id}/offers", response_model=OfferOut, status_code=status.HTTP_201_CREATED, summary="Publish"
)
def create_offer(brand_id: RowId, body: OfferIn, session: SessionDep, principal: Editor) -> OfferOut:
    ensure_brand_access(principal, brand_id)
    offer = offer_service.create_offer(
        session,
        brand_id,
        title=body.title,
        description=body.description,
        cost_tokens=body.cost,
        stock=body.stock,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        per_wallet_limit=body.per_wallet_limit,
        min_tier=body.min_tier,
        min_balance_tokens=body.min_balance,
        created_by=principal.subject,
    )
    session.commit()
    return offer_out(offer)


@router.get("/v1/brands/{brand_id}/offers", response_model=list[OfferOut], summary="A brand's offers")
def list_offers(brand_id: RowId, session: SessionDep, principal: BrandReader) -> list[OfferOut]:
    ensure_brand_access(principal, brand_id)
    return [offer_out(o) for o in offer_service.brand_offers(session, brand_id)]


@router.get(
    "/v1/offers/available", response_model=AvailableOut, summary="What a wallet may claim, and why not (public)"
)
def available(
    container: ContainerDep,
    session: SessionDep,
    wallet: Annotated[Address, Query(description="0x wallet address")],
    brand_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> AvailableOut:
    address = wallet
    rows = offer_service.available_offers(container.chain, session, address, brand_id)
    balances = {r.balance.token: r.balance for r in rows}
    return AvailableOut(
        wallet=address,
        offers=[
            AvailabilityOut(
                offer=offer_out(r.offer), claimable=r.claimable, reasons=r.reasons, tier=r.tier, claimed=r.claimed
            )
            for r in rows
        ],
        balances=[
            BalanceOut(
                token=b.token,
                on_chain=str(b.on_chain),
                pending=str(b.pending),
                spendable=str(b.spendable),
                source=b.source,
            )
            for b in balances.values()
        ],
    )


@router.get("/v1/offers/{offer_id}", response_model=OfferOut, summary="One offer (public)")
def get_offer(offer_id: RowId, session: SessionDep) -> OfferOut:
    return offer_out(offer_service.get_offer(session, offer_id))
