"""Who is calling: operator JWTs (HS256, stateless) and brand API keys, mapped to a `Principal` with scopes.

Operators get a JWT from `POST /v1/auth/token`; brands send `Authorization: Bearer lk_...` or `X-API-Key`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from backend.bootstrap import Container
from backend.entrypoints.api.deps import ContainerDep
from backend.errors import Forbidden, Unauthorized
from backend.services.foundation.api_keys import KEY_SCOPES

JWT_ALGORITHM = "HS256"
ALL_SCOPES = KEY_SCOPES | {"brands:admin", "audit:read"}
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": ALL_SCOPES,
    "brand_manager": KEY_SCOPES,  # a brand's manager answers its customers' GDPR requests
    "auditor": frozenset({"audit:read", "analytics:read"}),
    "viewer": frozenset({"analytics:read"}),
}
PLATFORM_ROLES = ("admin", "auditor")  # may act on any brand
_BEARER = {"WWW-Authenticate": "Bearer"}


class InvalidCredentials(Unauthorized):
    code = "invalid-credentials"
    title = "Missing or invalid credentials"


class MissingScope(Forbidden):
    code = "missing-scope"
    title = "The credentials lack a required scope"


class CrossTenant(Forbidden):
    code = "cross-tenant"
    title = "Not allowed on another brand's resources"


@dataclass(frozen=True)
class Principal:
    subject: str  # user email, api key id, or wallet
    role: str  # "admin" | "brand_manager" | "auditor" | "viewer" | "brand_api"
    brand_id: int | None  # None = platform-wide (admin/auditor/viewer)
    scopes: frozenset[str]


def jwt_signing_key(container: Container) -> bytes:
    """The HS256 key: sha256 of `LOYALTY_JWT_SECRET`.

    NOTE: RFC 7518 §3.2 wants HS256 keys of ≥ 32 bytes and PyJWT warns below that; hashing gives every configured
    secret that length (it adds no entropy: production still requires a long random secret).
    """
    return hashlib.sha256(container.settings.jwt_secret.encode()).digest()


def issue_jwt(container: Container, email: str, role: str, brand_id: int | None) -> tuple[str, int]:
    ttl = container.settings.jwt_ttl_s
    now = int(time.time())
    claims: dict[str, Any] = {"sub": email, "role": role, "brand_id": brand_id, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, jwt_signing_key(container), algorithm=JWT_ALGORITHM), ttl


def _from_jwt(container: Container, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token, jwt_signing_key(container), algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError as exc:
        raise InvalidCredentials(f"invalid token: {exc}", headers=_BEARER) from exc
    role = claims.get("role")
    brand_id = claims.get("brand_id")
    if role not in ROLE_SCOPES or not (brand_id is None or isinstance(brand_id, int)):
        raise InvalidCredentials("invalid token claims", headers=_BEARER)
    return Principal(subject=str(claims["sub"]), role=role, brand_id=brand_id, scopes=ROLE_SCOPES[role])


def _from_api_key(container: Container, raw: str, request: Request | None = None) -> Principal:
    # NOTE: the rate limiter verified this very key moments ago (see `backend.entrypoints.api.rate_limit`); reuse that.
    seen = getattr(request.state, "verified_api_key", None) if request is not None else None
    verified = seen[1] if seen is not None and seen[0] == raw else container.api_key_cache.verify(raw)
    if verified is None:
        raise InvalidCredentials("unknown or revoked API key", headers=_BEARER)
    return Principal(
        subject=f"key:{verified.key_id}", role="brand_api", brand_id=verified.brand_id, scopes=verified.scopes
    )


def get_principal(request: Request, container: ContainerDep) -> Principal:
    """The caller, from `X-API-Key` or `Authorization: Bearer`; 401 problem if missing or invalid."""
    api_key = request.headers.get("x-api-key")
    if api_key:
        return _from_api_key(container, api_key.strip(), request)
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredentials("send `Authorization: Bearer <token>` or `X-API-Key`", headers=_BEARER)
    token = token.strip()
    if token.startswith("lk_"):
        return _from_api_key(container, token, request)
    return _from_jwt(container, token)


async def _current_principal(request: Request) -> Principal:
    """`get_principal` on the event loop: no thread hop unless an API key must still be looked up in the DB."""
    container: Container = request.app.state.container
    seen = getattr(request.state, "verified_api_key", None)
    if seen is None and _api_key_sent(request):
        return await run_in_threadpool(get_principal, request, container)
    return get_principal(request, container)


def _api_key_sent(request: Request) -> bool:
    if request.headers.get("x-api-key"):
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token.strip().startswith("lk_")


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


def require_scope(scope: str) -> Callable[..., Principal]:
    """Dependency: the caller, who must hold `scope` (403 `missing-scope` otherwise)."""

    async def _dependency(principal: CurrentPrincipal) -> Principal:
        if scope not in principal.scopes:
            raise MissingScope(f"this operation needs the scope {scope!r}")
        return principal

    # NOTE: async so FastAPI calls it on the event loop (a sync dependency costs a thread-pool hop per request).
    return _dependency  # type: ignore[return-value]


READ_SCOPE = "analytics:read"  # reading a brand's data (promotions, campaigns, webhooks, ...); changes need more
BrandReader = Annotated[Principal, Depends(require_scope(READ_SCOPE))]


def ensure_brand_access(principal: Principal, brand_id: int) -> None:
    """403 `cross-tenant` unless the caller is platform-wide (admin/auditor) or belongs to `brand_id`."""
    if principal.role in PLATFORM_ROLES:
        return
    if principal.brand_id is None or principal.brand_id != brand_id:
        raise CrossTenant(f"not allowed on brand {brand_id}")
