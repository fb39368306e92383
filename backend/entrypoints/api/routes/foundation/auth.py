"""`POST /v1/auth/token` (operator login → JWT), `GET /v1/auth/me`, `POST /v1/operators` (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from backend.entrypoints.api.auth import CurrentPrincipal, InvalidCredentials, Principal, issue_jwt, require_scope
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.rate_limit import client_ip
from backend.services.foundation import operators

router = APIRouter(tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class PrincipalOut(BaseModel):
    subject: str
    role: str
    brand_id: int | None
    scopes: list[str]


class OperatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=12, max_length=200)
    role: Literal["admin", "brand_manager", "auditor", "viewer"]
    brand_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class OperatorOut(BaseModel):
    id: int
    email: str
    role: str
    brand_id: int | None


@router.post("/v1/auth/token", response_model=TokenOut, summary="Operator login (OAuth2 password form) → JWT")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    container: ContainerDep,
    request: Request,
) -> TokenOut:
    # NOTE: counted per account and per IP whatever credentials ride along; refused before the (slow) hash check
    headers = {k: v for k, v in request.headers.items()}
    ip = client_ip(request.scope, headers, trust_forwarded=container.settings.rate_limit_trust_forwarded)
    throttle = container.login_throttle
    throttle.check(form.username, ip)
    user = operators.authenticate(session, form.username, form.password)
    if user is None:
        throttle.failed(form.username, ip)
        raise InvalidCredentials("wrong email or password", headers={"WWW-Authenticate": "Bearer"})
    throttle.succeeded(form.username, ip)
    access_token, ttl = issue_jwt(container, user.email, user.role, user.brand_id)
    return TokenOut(access_token=access_token, expires_in=ttl)


@router.get("/v1/auth/me", response_model=PrincipalOut, summary="Who the credentials belong to")
def me(principal: CurrentPrincipal) -> PrincipalOut:
    return PrincipalOut(
        subject=principal.subject, role=principal.role, brand_id=principal.brand_id, scopes=sorted(principal.scopes)
    )


@router.post(
    "/v1/operators",
    response_model=OperatorOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an operator account (admin)",
)
def create_operator(
    body: OperatorIn, session: SessionDep, _admin: Annotated[Principal, Depends(require_scope("brands:admin"))]
) -> OperatorOut:
    user = operators.create_operator(session, body.email, body.password, body.role, body.brand_id)
    session.commit()
    return OperatorOut(id=user.id, email=user.email, role=user.role, brand_id=user.brand_id)
