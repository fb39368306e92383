"""Sign-In with Ethereum for shoppers: `POST /v1/auth/siwe/nonce`, then `POST /v1/auth/siwe/verify`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from backend.domain.siwe_message import MAX_MESSAGE_CHARS, MAX_RESOURCES, MAX_STATEMENT_CHARS, MAX_URI_CHARS
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.shopper_auth import issue_session
from backend.services.foundation import rate_limit
from backend.services.shoppers import profiles as shopper_service
from backend.services.shoppers import siwe as siwe_service

router = APIRouter(tags=["shoppers"])


class NonceOut(BaseModel):
    nonce: str
    expires_at: datetime
    domain: str = Field(description="the `domain` the message must name")
    chain_id: int = Field(description="the `Chain ID` the message must name")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(
        min_length=1,
        max_length=MAX_MESSAGE_CHARS,
        description="the EIP-4361 message as signed: printable ASCII, LF line ends, `domain` this server's "
        "`domain`, `URI` on this server's origin, a nonce from `POST /v1/auth/siwe/nonce`, `Issued At` not in "
        f"the future; statement ≤ {MAX_STATEMENT_CHARS} and URIs ≤ {MAX_URI_CHARS} characters, ≤ {MAX_RESOURCES} "
        "resources",
    )
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="EIP-191 personal_sign signature")


class SessionOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    wallet: str


@router.post("/v1/auth/siwe/nonce", response_model=NonceOut, summary="A single-use sign-in nonce (expires soon)")
def nonce(container: ContainerDep, session: SessionDep) -> NonceOut:
    row = siwe_service.issue_nonce(session, container.settings.siwe_nonce_ttl_s)
    session.commit()
    return NonceOut(
        nonce=row.nonce,
        expires_at=row.expires_at,
        domain=container.settings.siwe_domain,
        chain_id=container.chain.chain_id,
    )


@router.post("/v1/auth/siwe/verify", response_model=SessionOut, summary="Exchange a signed SIWE message for a session")
def verify(body: VerifyIn, container: ContainerDep, session: SessionDep) -> SessionOut:
    signed_in = siwe_service.verify(
        session,
        message=body.message,
        signature=body.signature,
        domain=container.settings.siwe_domain,
        chain_id=container.chain.chain_id,
        admit=lambda wallet: rate_limit.admit_wallet(
            container.rate_limiter, container.settings.rate_limit_per_wallet, wallet
        ),
    )
    shopper_service.record_sign_in(session, signed_in.wallet)
    session.commit()
    token, ttl = issue_session(container, signed_in.wallet, signed_in.chain_id)
    return SessionOut(access_token=token, expires_in=ttl, wallet=signed_in.wallet)
