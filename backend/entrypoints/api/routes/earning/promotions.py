"""Promotions under `/v1/brands/{id}/promotions`: create, list, read, edit (new version), preview (dry run)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from backend.domain.actions import ActionIn, Text
from backend.domain.promotion_spec import PromotionSpec
from backend.domain.rules_amounts import from_base_units
from backend.entrypoints.api.auth import BrandReader, Principal, ensure_brand_access, require_scope
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.routes.foundation.brands import PathId
from backend.services.earning import promotions as promotion_service
from backend.services.earning.actions.preview import preview_action

router = APIRouter(tags=["promotions"])
Editor = Annotated[Principal, Depends(require_scope("promotions:write"))]


class PromotionOut(BaseModel):
    id: int
    brand_id: int
    version: int
    name: str
    chain_id: int
    token_address: str
    budget_tokens: str | None
    spent_tokens: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PreviewIn(ActionIn):
    idempotency_key: Text = "preview"


class PreviewOut(BaseModel):
    credits: list[dict[str, Any]]
    total: str = Field(description="base units, summed over all credited wallets")


def _out(view: promotion_service.PromotionView) -> PromotionOut:
    p, v = view.promotion, view.version
    return PromotionOut(
        id=p.id,
        brand_id=p.brand_id,
        version=v.version,
        name=v.definition["name"],
        chain_id=v.chain_id,
        token_address=v.token_address,
        budget_tokens=None if p.budget is None else from_base_units(p.budget),
        spent_tokens=from_base_units(p.spent),
        definition=v.definition,
        created_at=p.created_at,
        updated_at=v.created_at,
    )


def _coalition(container: ContainerDep) -> str:
    assert container.contracts is not None
    return container.contracts.coalition.address


@router.post(
    "/v1/brands/{brand_id}/promotions",
    response_model=PromotionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a promotion (paying in another brand's or the coalition token needs that owner's consent)",
)
def create_promotion(
    brand_id: PathId, spec: PromotionSpec, session: SessionDep, container: ContainerDep, principal: Editor
) -> PromotionOut:
    ensure_brand_access(principal, brand_id)
    view = promotion_service.create_promotion(session, brand_id, spec, _coalition(container), principal.subject)
    session.commit()
    promotion_service.promotion_cache.invalidate(brand_id)
    return _out(view)


@router.get("/v1/brands/{brand_id}/promotions", response_model=list[PromotionOut], summary="A brand's promotions")
def list_promotions(brand_id: PathId, session: SessionDep, principal: BrandReader) -> list[PromotionOut]:
    ensure_brand_access(principal, brand_id)
    return [_out(v) for v in promotion_service.list_promotions(session, brand_id)]


@router.get(
    "/v1/brands/{brand_id}/promotions/{promotion_id}",
    response_model=PromotionOut,
    summary="A promotion (current version, or `?version=`)",
)
def get_promotion(
    brand_id: PathId,
    promotion_id: PathId,
    session: SessionDep,
    principal: BrandReader,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> PromotionOut:
    ensure_brand_access(principal, brand_id)
    return _out(promotion_service.get_promotion(session, brand_id, promotion_id, version))


@router.put(
    "/v1/brands/{brand_id}/promotions/{promotion_id}",
    response_model=PromotionOut,
    summary="Edit a promotion: creates a new version (earlier credits keep theirs)",
)
def update_promotion(
    brand_id: PathId,
    promotion_id: PathId,
    spec: PromotionSpec,
    session: SessionDep,
    container: ContainerDep,
    principal: Editor,
) -> PromotionOut:
    ensure_brand_access(principal, brand_id)
    view = promotion_service.update_promotion(
        session, brand_id, promotion_id, spec, _coalition(container), principal.subject
    )
    session.commit()
    promotion_service.promotion_cache.invalidate(brand_id)
    return _out(view)


@router.post(
    "/v1/brands/{brand_id}/promotions/{promotion_id}:preview",
    response_model=PreviewOut,
    summary="Dry run: what an action would earn from this promotion now (credits nothing)",
)
def preview(
    brand_id: PathId, promotion_id: PathId, action: PreviewIn, session: SessionDep, principal: BrandReader
) -> PreviewOut:
    ensure_brand_access(principal, brand_id)
    promotion_service.get_promotion(session, brand_id, promotion_id)
    credits = preview_action(session, brand_id, promotion_id, action)
    return PreviewOut(
        credits=[
            {
                "wallet": c.wallet,
                "amount": str(c.amount),
                "tokens": from_base_units(c.amount),
                "token_address": c.token_address,
                "rule_id": c.rule_id,
                "promotion_version": c.version,
            }
            for c in credits
        ],
        total=str(sum(c.amount for c in credits)),
    )
