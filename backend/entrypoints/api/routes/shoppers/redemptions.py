"""Redemptions: prepare the EIP-712 data, submit the signature (relayed, gasless), follow it, show the QR code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from backend.adapters.orm.shoppers import Redemption
from backend.domain.addresses import Address
from backend.entrypoints.api.auth import BrandReader, ensure_brand_access
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.shopper_auth import CurrentShopper, ensure_own_wallet
from backend.services.qr.rendering import render_png, render_svg
from backend.services.shoppers import redemptions as redemption_service

RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]  # a 32-bit primary key; larger ids are 422
router = APIRouter(tags=["redemptions"])


class PreparedOut(BaseModel):
    redemption_id: str
    deadline: int = Field(description="unix seconds; sign and submit before it")
    typed_data: dict[str, Any] = Field(description="EIP-712 data for eth_signTypedData_v4")


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redemption_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    chain_id: int | None = Field(default=None, ge=1, description="the chain the wallet signed for (optional check)")


class RedemptionOut(BaseModel):
    id: str
    offer_id: int
    brand_id: int
    wallet: str
    token_address: str
    amount: str = Field(description="base units burned")
    status: str = Field(description="pending | confirmed | failed")
    reason: str | None = Field(description="why it failed (decoded contract error)")
    code: str | None = Field(description="show it at the counter once confirmed")
    relay_state: str | None
    waiting_reason: str | None
    tx_hash: str | None
    block_number: int | None
    created_at: datetime
    submitted_at: datetime | None
    settled_at: datetime | None


def redemption_out(session: SessionDep, r: Redemption) -> RedemptionOut:
    intent = redemption_service.relay_of(session, r) if r.status == "pending" else None
    return RedemptionOut(
        id=r.id,
        offer_id=r.offer_id,
        brand_id=r.brand_id,
        wallet=r.wallet,
        token_address=r.token_address,
        amount=str(r.amount),
        status=r.status,
        reason=r.reason,
        code=r.code,
        relay_state=intent.state if intent else None,
        waiting_reason=intent.waiting_reason if intent else None,
        tx_hash=r.tx_hash or (intent.tx_hash if intent else None),
        block_number=r.block_number,
        created_at=r.created_at,
        submitted_at=r.submitted_at,
        settled_at=r.settled_at,
    )


@router.post(
    "/v1/offers/{offer_id}/redemptions:prepare",
    response_model=PreparedOut,
    status_code=status.HTTP_201_CREATED,
    summary="Start claiming an offer: the typed data the wallet signs (no gas needed)",
)
def prepare(offer_id: RowId, shopper: CurrentShopper, container: ContainerDep, session: SessionDep) -> PreparedOut:
    r, data = redemption_service.prepare(container.redemptions, session, shopper, offer_id)
    session.commit()
    return PreparedOut(redemption_id=r.id, deadline=r.deadline, typed_data=data)


@router.post(
    "/v1/redemptions",
    response_model=RedemptionOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit the signed redemption; the platform relays it and pays the gas",
)
def submit(body: SubmitIn, shopper: CurrentShopper, container: ContainerDep, session: SessionDep) -> RedemptionOut:
    rid = redemption_service.submit(
        container.redemptions, shopper, body.redemption_id.lower(), body.signature, body.chain_id
    )
    return redemption_out(session, redemption_service.own(session, shopper, rid))


@router.get("/v1/me/redemptions", response_model=list[RedemptionOut], summary="The shopper's redemptions")
def my_redemptions(shopper: CurrentShopper, session: SessionDep) -> list[RedemptionOut]:
    return [redemption_out(session, r) for r in redemption_service.history(session, shopper)]


@router.get("/v1/shoppers/{wallet}/redemptions", response_model=list[RedemptionOut], summary="Own redemptions only")
def shopper_redemptions(wallet: Address, shopper: CurrentShopper, session: SessionDep) -> list[RedemptionOut]:
    ensure_own_wallet(shopper, wallet)
    return my_redemptions(shopper, session)


def _own(session: SessionDep, shopper: str, redemption_id: str) -> Redemption:
    return redemption_service.own(session, shopper, redemption_service.parse_redemption_id(redemption_id))


@router.get("/v1/redemptions/{redemption_id}", response_model=RedemptionOut, summary="One of the shopper's redemptions")
def get_redemption(redemption_id: str, shopper: CurrentShopper, session: SessionDep) -> RedemptionOut:
    return redemption_out(session, _own(session, shopper, redemption_id))


@router.get(
    "/v1/redemptions/{redemption_id}/qr.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="QR code of a confirmed redemption, for the shop counter",
)
def redemption_qr_png(redemption_id: str, shopper: CurrentShopper, session: SessionDep) -> Response:
    payload = redemption_service.qr_payload(_own(session, shopper, redemption_id))
    return Response(render_png(payload), media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get(
    "/v1/redemptions/{redemption_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
    summary="QR code of a confirmed redemption (SVG)",
)
def redemption_qr_svg(redemption_id: str, shopper: CurrentShopper, session: SessionDep) -> Response:
    payload = redemption_service.qr_payload(_own(session, shopper, redemption_id))
    return Response(render_svg(payload), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"})


@router.get(
    "/v1/brands/{brand_id}/redemptions", response_model=list[RedemptionOut], summary="Redemptions of a brand's offers"
)
def brand_redemptions(
    brand_id: RowId,
    session: SessionDep,
    principal: BrandReader,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^(pending|confirmed|failed)$")] = None,
) -> list[RedemptionOut]:
    ensure_brand_access(principal, brand_id)
    return [redemption_out(session, r) for r in redemption_service.brand_redemptions(session, brand_id, status_)]
