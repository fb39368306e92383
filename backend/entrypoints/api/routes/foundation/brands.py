"""Brands: onboarding (admin), reading, and cross-brand consents (who may pay in whose token)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, ConfigDict, Field

from backend.domain.actions import MAX_ID
from backend.entrypoints.api.auth import BrandReader, CurrentPrincipal, Principal, ensure_brand_access, require_scope
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.strict_types import StrictBool, StrictInt
from backend.errors import Forbidden, InvalidInput
from backend.services.foundation import brands as brand_service

router = APIRouter(tags=["brands"])
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]  # bounded so a huge number is a 422, never a database error
AdminDep = Annotated[Principal, Depends(require_scope("brands:admin"))]


class BrandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    contact_email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    use_coalition_token: StrictBool = False
    token_symbol: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,11}$")


class BrandOut(BaseModel):
    id: int
    slug: str
    name: str
    contact_email: str
    chain_id: int
    token_address: str
    token_symbol: str
    token_decimals: int
    is_coalition: bool
    created_at: datetime


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee_brand_id: StrictInt = Field(ge=1, le=MAX_ID)


class ConsentOut(BaseModel):
    id: int
    token_address: str
    grantee_brand_id: int
    granted_by_brand_id: int | None
    created_at: datetime


def _brand_out(brand: object) -> BrandOut:
    return BrandOut.model_validate(brand, from_attributes=True)


def _consent_out(consent: object) -> ConsentOut:
    return ConsentOut.model_validate(consent, from_attributes=True)


@router.post("/v1/brands", response_model=BrandOut, status_code=status.HTTP_201_CREATED, summary="Onboard a brand")
def create_brand(body: BrandIn, container: ContainerDep, _admin: AdminDep) -> BrandOut:
    brand = brand_service.onboard_brand(
        container.sessions,
        container.chain,
        container.contracts,
        container.deployer,
        container.hot_wallets,
        container.min_tip_wei,
        name=body.name,
        slug=body.slug,
        contact_email=body.contact_email,
        use_coalition_token=body.use_coalition_token,
        token_symbol=body.token_symbol,
    )
    return _brand_out(brand)


@router.get("/v1/brands", response_model=list[BrandOut], summary="Brands the caller may see")
def list_brands(session: SessionDep, principal: CurrentPrincipal) -> list[BrandOut]:
    only = None if principal.brand_id is None else principal.brand_id
    return [_brand_out(b) for b in brand_service.list_brands(session, only)]


@router.get("/v1/brands/{brand_id}", response_model=BrandOut, summary="One brand")
def get_brand(brand_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> BrandOut:
    ensure_brand_access(principal, brand_id)
    return _brand_out(brand_service.get_brand(session, brand_id))


@router.post(
    "/v1/brands/{brand_id}/consents",
    response_model=ConsentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Let another brand's promotions pay in this brand's token",
)
def grant_consent(
    brand_id: PathId,
    body: ConsentIn,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_scope("promotions:write"))],
) -> ConsentOut:
    ensure_brand_access(principal, brand_id)
    if principal.role == "auditor":
        raise Forbidden("auditors cannot grant consents")
    if body.grantee_brand_id == brand_id:
        raise InvalidInput("a brand always pays in its own token; a consent names another brand")
    brand = brand_service.get_brand(session, brand_id)
    if brand.is_coalition:
        raise InvalidInput("this brand pays in the coalition token; coalition consents are granted by an admin")
    consent = brand_service.grant_consent(
        session,
        token_address=brand.token_address,
        grantee_brand_id=body.grantee_brand_id,
        granted_by_brand_id=brand_id,
        granted_by=principal.subject,
    )
    session.commit()
    return _consent_out(consent)


@router.get("/v1/brands/{brand_id}/consents", response_model=list[ConsentOut], summary="Consents on and to a brand")
def list_consents(brand_id: PathId, session: SessionDep, principal: BrandReader) -> list[ConsentOut]:
    ensure_brand_access(principal, brand_id)
    brand = brand_service.get_brand(session, brand_id)
    return [_consent_out(c) for c in brand_service.list_consents(session, brand)]


@router.post(
    "/v1/coalition/consents",
    response_model=ConsentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Let a brand's promotions pay in the coalition token (admin)",
)
def grant_coalition_consent(
    body: ConsentIn, session: SessionDep, container: ContainerDep, principal: AdminDep
) -> ConsentOut:
    assert container.contracts is not None
    consent = brand_service.grant_consent(
        session,
        token_address=container.contracts.coalition.address,
        grantee_brand_id=body.grantee_brand_id,
        granted_by_brand_id=None,
        granted_by=principal.subject,
    )
    session.commit()
    return _consent_out(consent)
