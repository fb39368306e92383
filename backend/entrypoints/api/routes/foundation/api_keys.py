"""Brand API keys under `/v1/brands/{id}/api-keys`: create (shown once), list, revoke, rotate."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from backend.entrypoints.api.auth import CurrentPrincipal, Principal, ensure_brand_access
from backend.entrypoints.api.deps import ContainerDep, SessionDep
from backend.entrypoints.api.routes.foundation.brands import PathId
from backend.errors import Forbidden
from backend.services.foundation import api_keys as key_service
from backend.services.foundation import brands as brand_service

router = APIRouter(tags=["api keys"])


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="default", min_length=1, max_length=100)
    scopes: list[key_service.KeyScope] | None = Field(
        default=None, min_length=1, max_length=10, description="default: the three non-GDPR scopes"
    )


class ApiKeyOut(BaseModel):
    id: int
    brand_id: int
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    replaced_by_id: int | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="the secret key; shown only in this response")


def _manager(principal: Principal, brand_id: int) -> None:
    """Keys are managed by operators (admin, or the brand's manager), never with an API key."""
    ensure_brand_access(principal, brand_id)
    if principal.role not in ("admin", "brand_manager"):
        raise Forbidden("API keys are managed by the platform admin or the brand's manager")


def _out(key: object, plaintext: str | None = None) -> ApiKeyOut:
    data = {c: getattr(key, c) for c in ApiKeyOut.model_fields if c != "scopes"}
    data["scopes"] = key.scopes.split()  # type: ignore[attr-defined]
    return NewApiKeyOut(**data, key=plaintext) if plaintext else ApiKeyOut(**data)


@router.post(
    "/v1/brands/{brand_id}/api-keys",
    response_model=NewApiKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (the secret is shown once)",
)
def create_key(brand_id: PathId, body: ApiKeyIn, session: SessionDep, principal: CurrentPrincipal) -> ApiKeyOut:
    _manager(principal, brand_id)
    brand_service.get_brand(session, brand_id)
    key, plaintext = key_service.create_key(session, brand_id, body.name, body.scopes)
    session.commit()
    return _out(key, plaintext)


@router.get("/v1/brands/{brand_id}/api-keys", response_model=list[ApiKeyOut], summary="List API keys")
def list_keys(brand_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[ApiKeyOut]:
    _manager(principal, brand_id)
    return [_out(k) for k in key_service.list_keys(session, brand_id)]


@router.post("/v1/brands/{brand_id}/api-keys/{key_id}:revoke", response_model=ApiKeyOut, summary="Revoke an API key")
def revoke_key(
    brand_id: PathId, key_id: PathId, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> ApiKeyOut:
    _manager(principal, brand_id)
    key = key_service.revoke_key(session, brand_id, key_id, container.api_key_cache)
    session.commit()
    return _out(key)


@router.delete(
    "/v1/brands/{brand_id}/api-keys/{key_id}", response_model=ApiKeyOut, summary="Revoke an API key (same as :revoke)"
)
def delete_key(
    brand_id: PathId, key_id: PathId, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> ApiKeyOut:
    return revoke_key(brand_id, key_id, session, container, principal)


@router.post(
    "/v1/brands/{brand_id}/api-keys/{key_id}:rotate",
    response_model=NewApiKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Rotate: a new key with the same scopes; the old one is revoked",
)
def rotate_key(
    brand_id: PathId, key_id: PathId, session: SessionDep, container: ContainerDep, principal: CurrentPrincipal
) -> ApiKeyOut:
    _manager(principal, brand_id)
    key, plaintext = key_service.rotate_key(session, brand_id, key_id, container.api_key_cache)
    session.commit()
    return _out(key, plaintext)
