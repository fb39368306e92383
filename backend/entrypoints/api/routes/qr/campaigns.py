"""QR campaigns (brands) and claims (shoppers): signed single-use codes, their images and a print export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.adapters.orm.qr import QrCampaign
from backend.domain.addresses import Address
from backend.domain.timestamps import as_utc
from backend.entrypoints.api.auth import (
    PLATFORM_ROLES,
    BrandReader,
    CrossTenant,
    Principal,
    ensure_brand_access,
    require_scope,
)
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.strict_types import PathId, RfcDateTime, StrictInt, one_of
from backend.errors import InvalidInput
from backend.services.foundation import rate_limit
from backend.services.qr import campaigns as qr_campaigns
from backend.services.qr import claims as qr_service
from backend.services.qr import rendering as qr_rendering
from backend.services.qr.export import export_cache

router = APIRouter(tags=["qr"])
WriterDep = Annotated[Principal, Depends(require_scope("promotions:write"))]
Amount = Annotated[str, Field(pattern=r"^[0-9]{1,78}$", description="token base units, as a decimal string")]


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": one_of("promotion_id", "reward_amount")})
    name: str = Field(min_length=1, max_length=200)
    codes: StrictInt = Field(ge=1, le=qr_campaigns.MAX_CODES_PER_REQUEST, description="how many single-use codes")
    ends_at: RfcDateTime = Field(description="end of the campaign, also every code's signed expiry (UTC)")
    starts_at: RfcDateTime | None = Field(default=None, description="default: now")
    max_claims: StrictInt | None = Field(default=None, ge=1, le=2**31 - 1, description="default: one claim per code")
    promotion_id: StrictInt | None = Field(
        default=None, ge=1, le=2**31 - 1, description="the promotion whose rules price a claim"
    )
    reward_amount: Amount | None = Field(default=None, description="or a fixed reward per claim")
    token_address: Address | None = Field(default=None, description="fixed reward: token (default the brand's)")
    brand_id: int | None = Field(default=None, ge=1, description="platform operators only: whose campaign")


class CampaignPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field(pattern=r"^(active|paused|ended)$")


class CampaignOut(BaseModel):
    id: int
    brand_id: int
    name: str
    promotion_id: int | None
    reward_amount: str | None
    token_address: str | None
    starts_at: datetime
    ends_at: datetime
    max_claims: int | None
    codes: int
    claims: int
    state: str
    created_at: datetime


class CodeOut(BaseModel):
    code_id: int
    code: str


class CodePage(BaseModel):
    total: int
    offset: int
    items: list[CodeOut]


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=300, description="the scanned text: the code or a link ending in it")
    wallet: Address


class ClaimOut(BaseModel):
    claim_id: int
    campaign_id: int
    code_id: int
    wallet: str
    action_id: str | None
    amount: str | None
    claimed_at: datetime


def _out(c: QrCampaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        brand_id=c.brand_id,
        name=c.name,
        promotion_id=c.promotion_id,
        reward_amount=None if c.reward_amount is None else str(c.reward_amount),
        token_address=c.token_address,
        starts_at=as_utc(c.starts_at),
        ends_at=as_utc(c.ends_at),
        max_claims=c.max_claims,
        codes=c.code_count,
        claims=c.claims_count,
        state=c.state,
        created_at=as_utc(c.created_at),
    )


def _owned(session: SessionDep, principal: Principal, campaign_id: int) -> QrCampaign:
    campaign = qr_campaigns.get_campaign(session, campaign_id)
    ensure_brand_access(principal, campaign.brand_id)
    return campaign


@router.post(
    "/v1/qr/campaigns", response_model=CampaignOut, status_code=status.HTTP_201_CREATED, summary="Create QR codes"
)
def create_campaign(
    body: CampaignIn, session: SessionDep, container: ContainerDep, principal: WriterDep
) -> CampaignOut:
    brand_id = body.brand_id or principal.brand_id
    if brand_id is None:
        raise InvalidInput("platform operators must say which brand_id the campaign belongs to")
    ensure_brand_access(principal, brand_id)
    now = datetime.now(UTC)
    spec = qr_campaigns.CampaignSpec(
        name=body.name,
        codes=body.codes,
        starts_at=as_utc(body.starts_at or now),
        ends_at=as_utc(body.ends_at),
        max_claims=body.max_claims,
        promotion_id=body.promotion_id,
        reward_amount=None if body.reward_amount is None else int(body.reward_amount),
        token_address=body.token_address,
    )
    ring = container.qr_keyring
    coalition = container.contracts.coalition.address if container.contracts else ""
    campaign = qr_campaigns.create_campaign(
        session, ring, brand_id=brand_id, spec=spec, created_by=principal.subject, now=now, coalition_address=coalition
    )
    session.commit()
    return _out(campaign)


@router.get("/v1/qr/campaigns", response_model=list[CampaignOut], summary="QR campaigns the caller may see")
def list_campaigns(
    session: SessionDep,
    principal: BrandReader,
    brand_id: int | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[CampaignOut]:
    brand_id = brand_id or principal.brand_id
    if brand_id is not None:
        ensure_brand_access(principal, brand_id)
    elif principal.role not in PLATFORM_ROLES:
        raise CrossTenant("say which brand_id to list")
    return [_out(c) for c in qr_campaigns.list_campaigns(session, brand_id, limit=limit, offset=offset)]


@router.get("/v1/qr/campaigns/{campaign_id}", response_model=CampaignOut, summary="One QR campaign")
def get_campaign(campaign_id: PathId, session: SessionDep, principal: BrandReader) -> CampaignOut:
    return _out(_owned(session, principal, campaign_id))


@router.patch("/v1/qr/campaigns/{campaign_id}", response_model=CampaignOut, summary="Pause, resume or end")
def patch_campaign(campaign_id: PathId, body: CampaignPatch, session: SessionDep, principal: WriterDep) -> CampaignOut:
    campaign = qr_campaigns.set_state(_owned(session, principal, campaign_id), body.state)
    session.commit()
    return _out(campaign)


@router.get("/v1/qr/campaigns/{campaign_id}/codes", response_model=CodePage, summary="The campaign's codes")
def list_codes(
    campaign_id: PathId,
    session: SessionDep,
    container: ContainerDep,
    principal: WriterDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> CodePage:
    campaign = _owned(session, principal, campaign_id)
    ring = container.qr_keyring
    items = [CodeOut(code_id=s, code=t) for s, t in qr_rendering.codes_page(campaign, ring, offset, limit)]
    return CodePage(total=campaign.code_count, offset=offset, items=items)


@router.get(
    "/v1/qr/campaigns/{campaign_id}/codes/{code_id}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="One code as a PNG",
)
def code_png(
    campaign_id: PathId,
    code_id: PathId,
    session: SessionDep,
    container: ContainerDep,
    principal: WriterDep,
    box_size: int = Query(8, ge=1, le=40, description="pixels per module"),
) -> Response:
    campaign = _owned(session, principal, campaign_id)
    text = qr_rendering.code_text(campaign, code_id, container.qr_keyring)
    return Response(qr_rendering.render_png(text, box_size), media_type="image/png")


@router.get(
    "/v1/qr/campaigns/{campaign_id}/codes/{code_id}.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
    summary="One code as an SVG",
)
def code_svg(
    campaign_id: PathId, code_id: PathId, session: SessionDep, container: ContainerDep, principal: WriterDep
) -> Response:
    campaign = _owned(session, principal, campaign_id)
    text = qr_rendering.code_text(campaign, code_id, container.qr_keyring)
    return Response(qr_rendering.render_svg(text), media_type="image/svg+xml")


@router.get(
    "/v1/qr/campaigns/{campaign_id}/export.zip",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
    summary="Every code as PNG plus a CSV manifest, streamed (for printing)",
)
def export_zip(campaign_id: PathId, session: SessionDep, container: ContainerDep, principal: WriterDep) -> Response:
    campaign = _owned(session, principal, campaign_id)
    session.expunge(campaign)  # the stream outlives the request's session
    ring = container.qr_keyring
    exports = export_cache(container.settings.deployments_dir.parent / "qr-exports")
    headers = {"Content-Disposition": f'attachment; filename="qr-campaign-{campaign.id}.zip"'}
    cached = exports.cached(campaign, ring)
    if cached is not None:  # rendered before: served from the file, no rendering and no export slot
        return FileResponse(cached, media_type="application/zip", headers=headers)
    return StreamingResponse(exports.render(campaign, ring), media_type="application/zip", headers=headers)


@router.get(
    "/v1/qr/campaigns/{campaign_id}/sheet.html",
    response_class=HTMLResponse,
    summary="A printable page of codes (A4, 4 per row), `limit` codes from `offset`",
)
def sheet(
    campaign_id: PathId,
    session: SessionDep,
    container: ContainerDep,
    principal: WriterDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=500),
) -> HTMLResponse:
    campaign = _owned(session, principal, campaign_id)
    ring = container.qr_keyring
    return HTMLResponse(qr_rendering.render_sheet(campaign, ring, offset, limit))


@router.get("/v1/qr/campaigns/{campaign_id}/claims", summary="Claims of a campaign, oldest first")
def list_claims(
    campaign_id: PathId,
    session: SessionDep,
    principal: BrandReader,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> list[ClaimOut]:
    _owned(session, principal, campaign_id)
    return [
        ClaimOut(
            claim_id=c.id,
            campaign_id=c.campaign_id,
            code_id=c.serial,
            wallet=c.wallet,
            action_id=c.action_id,
            amount=None if c.amount is None else str(c.amount),
            claimed_at=as_utc(c.claimed_at),
        )
        for c in qr_campaigns.list_claims(session, campaign_id, limit=limit, offset=offset)
    ]


@router.post(
    "/v1/qr/claims",
    response_model=ClaimOut,
    status_code=status.HTTP_201_CREATED,
    summary="Claim a scanned code for a wallet (public; first claim wins)",
)
def claim_code(body: ClaimIn, container: ContainerDep) -> ClaimOut:
    limit = container.settings.rate_limit_per_wallet
    result = qr_service.claim(
        container.sessions,
        container.redis,
        container.qr_keyring,
        body.code,
        body.wallet,
        admit=lambda wallet: rate_limit.admit_wallet(container.rate_limiter, limit, wallet),
    )
    return ClaimOut(
        claim_id=result.claim_id,
        campaign_id=result.campaign_id,
        code_id=result.code_id,
        wallet=result.wallet,
        action_id=result.action_id,
        amount=None if result.amount is None else str(result.amount),
        claimed_at=result.claimed_at,
    )
