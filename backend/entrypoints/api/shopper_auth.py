"""Shopper sessions: a short-lived HS256 JWT (role "shopper", subject = checksummed wallet) issued by SIWE.

Operator tokens and brand API keys are refused here, and shopper tokens are refused by `get_principal` (its role
table has no "shopper"), so the two worlds never cross.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import jwt
from eth_utils import is_checksum_address
from fastapi import Depends, Request

from backend.bootstrap import Container
from backend.entrypoints.api.auth import JWT_ALGORITHM, InvalidCredentials, jwt_signing_key
from backend.entrypoints.api.deps import ContainerDep
from backend.errors import Forbidden

SHOPPER_ROLE = "shopper"
_BEARER = {"WWW-Authenticate": 'Bearer realm="shopper"'}


class NotYourWallet(Forbidden):
    code = "not-your-wallet"
    title = "A shopper may only see and manage their own wallet"


def issue_session(container: Container, wallet: str, chain_id: int) -> tuple[str, int]:
    ttl = container.settings.shopper_session_ttl_s
    now = int(time.time())
    claims: dict[str, Any] = {"sub": wallet, "role": SHOPPER_ROLE, "chain_id": chain_id, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, jwt_signing_key(container), algorithm=JWT_ALGORITHM), ttl


def get_shopper(request: Request, container: ContainerDep) -> str:
    """The signed-in shopper's checksummed wallet; 401 problem without a valid shopper session."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredentials(
            "sign in with Ethereum (POST /v1/auth/siwe/verify) and send the token", headers=_BEARER
        )
    try:
        claims = jwt.decode(
            token.strip(),
            jwt_signing_key(container),
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidCredentials(f"invalid shopper session: {exc}", headers=_BEARER) from exc
    wallet = claims.get("sub")
    if claims.get("role") != SHOPPER_ROLE or not isinstance(wallet, str) or not is_checksum_address(wallet):
        raise InvalidCredentials("not a shopper session", headers=_BEARER)
    return wallet


CurrentShopper = Annotated[str, Depends(get_shopper)]


def ensure_own_wallet(shopper: str, wallet: str) -> None:
    """403 `not-your-wallet` unless `wallet` is the signed-in shopper's."""
    if wallet.lower() != shopper.lower():
        raise NotYourWallet(f"signed in as {shopper}, not {wallet}")
