"""Webhook endpoints of a brand under `/v1/brands/{id}/webhooks`, their delivery log and replays.

Reading needs access to the brand (its manager or API key, admins, auditors); changing needs the brand's
`promotions:write` credentials or an admin. The secret is returned only by create and rotate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from backend.adapters.orm.notifications import EVENT_TYPES, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from backend.entrypoints.api.auth import BrandReader, Principal, ensure_brand_access, require_scope
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.errors import Forbidden
from backend.services.notifications import webhooks as service

router = APIRouter(tags=["webhooks"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]  # ids outside a 32-bit column are simply not found: 404/422, never 500
EventType = Annotated[str, Field(pattern="^(" + "|".join(t.replace(".", r"\.") for t in EVENT_TYPES) + ")$")]


def _manager(principal: Annotated[Principal, Depends(require_scope("promotions:write"))]) -> Principal:
    if principal.role == "auditor":
        raise Forbidden("auditors read webhooks but cannot change them")
    return principal


Manager = Annotated[Principal, Depends(_manager)]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl = Field(max_length=2048, description="http(s) URL of the receiver, without credentials")
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=200)


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_s: int | None = Field(default=None, ge=0, le=30 * 86_400, description="old secret keeps signing this long")


class EndpointOut(BaseModel):
    id: int
    brand_id: int
    url: str
    event_types: list[str]
    description: str | None
    created_at: datetime
    previous_secret_expires_at: datetime | None


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="shown once: sign-verification key of this endpoint (`whsec_...`)")


class AttemptOut(BaseModel):
    attempt: int
    status_code: int | None
    latency_ms: int
    error: str | None
    created_at: datetime


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    replay_of: int | None
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: int | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptOut]


def _out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        brand_id=endpoint.brand_id,
        url=endpoint.url,
        event_types=endpoint.event_types.split(),
        description=endpoint.description,
        created_at=endpoint.created_at,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> EndpointWithSecret:
    return EndpointWithSecret(**_out(endpoint).model_dump(), secret=secret)


def _delivery_out(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.state == "pending" else None,
        replay_of=delivery.replay_of,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        last_latency_ms=delivery.last_latency_ms,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )


@router.post(
    "/v1/brands/{brand_id}/webhooks",
    response_model=EndpointWithSecret,
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint (the secret is shown once)",
)
def create_webhook(
    brand_id: Id, body: EndpointIn, session: SessionDep, container: ContainerDep, principal: Manager
) -> EndpointWithSecret:
    ensure_brand_access(principal, brand_id)
    endpoint, secret = service.create_endpoint(
        session,
        brand_id,
        url=str(body.url),
        event_types=list(body.event_types),
        description=body.description,
        created_by=principal.subject,
        allow_private=container.settings.webhook_allow_private_urls,
    )
    session.commit()
    return _with_secret(endpoint, secret)


@router.get("/v1/brands/{brand_id}/webhooks", response_model=list[EndpointOut], summary="A brand's webhook endpoints")
def list_webhooks(brand_id: Id, session: SessionDep, principal: BrandReader) -> list[EndpointOut]:
    ensure_brand_access(principal, brand_id)
    return [_out(e) for e in service.list_endpoints(session, brand_id)]


@router.get("/v1/brands/{brand_id}/webhooks/{webhook_id}", response_model=EndpointOut, summary="One webhook endpoint")
def get_webhook(brand_id: Id, webhook_id: Id, session: SessionDep, principal: BrandReader) -> EndpointOut:
    ensure_brand_access(principal, brand_id)
    return _out(service.get_endpoint(session, brand_id, webhook_id))


@router.delete(
    "/v1/brands/{brand_id}/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove a webhook endpoint (its pending deliveries are dropped)",
)
def delete_webhook(brand_id: Id, webhook_id: Id, session: SessionDep, principal: Manager) -> Response:
    ensure_brand_access(principal, brand_id)
    service.delete_endpoint(session, brand_id, webhook_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/brands/{brand_id}/webhooks/{webhook_id}:rotate-secret",
    response_model=EndpointWithSecret,
    summary="New signing secret; the old one also signs during the overlap window",
)
def rotate_webhook_secret(
    brand_id: Id,
    webhook_id: Id,
    session: SessionDep,
    container: ContainerDep,
    principal: Manager,
    body: RotateIn | None = None,
) -> EndpointWithSecret:
    ensure_brand_access(principal, brand_id)
    overlap = body.overlap_s if body and body.overlap_s is not None else container.settings.webhook_secret_overlap_s
    endpoint, secret = service.rotate_secret(session, brand_id, webhook_id, overlap)
    session.commit()
    return _with_secret(endpoint, secret)


@router.get(
    "/v1/brands/{brand_id}/webhooks/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="Delivery log, newest first (status code, latency, error per attempt)",
)
def list_webhook_deliveries(
    brand_id: Id,
    webhook_id: Id,
    session: SessionDep,
    principal: BrandReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[int | None, Query(ge=1, description="page: deliveries older than this id")] = None,
) -> list[DeliveryOut]:
    ensure_brand_access(principal, brand_id)
    rows = service.list_deliveries(session, brand_id, webhook_id, limit=limit, before_id=before_id)
    return [_delivery_out(d, a) for d, a in rows]


@router.post(
    "/v1/brands/{brand_id}/webhooks/{webhook_id}/deliveries/{delivery_id}:replay",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery's event again (a new delivery)",
)
def replay_webhook_delivery(
    brand_id: Id, webhook_id: Id, delivery_id: Id, session: SessionDep, principal: Manager
) -> DeliveryOut:
    ensure_brand_access(principal, brand_id)
    delivery = service.replay_delivery(session, brand_id, webhook_id, delivery_id)
    session.commit()
    return _delivery_out(delivery, [])
