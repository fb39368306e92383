"""Operator accounts (admin, brand managers, auditors, viewers), argon2-hashed; `loyalty migrate` adds the first."""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.db import session_scope
from backend.adapters.orm.earning import Brand, OperatorUser
from backend.config import Settings
from backend.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger("loyalty.operators")
ROLES = ("admin", "brand_manager", "auditor", "viewer")
_hasher = PasswordHasher()
# NOTE: verifying against a dummy hash when the email is unknown keeps response times alike, so the token
# endpoint does not reveal which emails have accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def authenticate(session: Session, email: str, password: str) -> OperatorUser | None:
    user = session.scalar(select(OperatorUser).where(OperatorUser.email == email.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user if user is not None and not user.disabled else None


def create_operator(session: Session, email: str, password: str, role: str, brand_id: int | None) -> OperatorUser:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if (role == "brand_manager") != (brand_id is not None):
        raise InvalidInput("brand_id is required for brand_manager and only for it")
    if brand_id is not None and session.get(Brand, brand_id) is None:
        raise NotFound(f"brand {brand_id} does not exist")
    user = OperatorUser(
        email=email.strip().lower(), password_hash=hash_password(password), role=role, brand_id=brand_id
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"an operator with email {email} already exists") from exc
    return user


def ensure_admin(engine: Engine, sessions: sessionmaker[Session], settings: Settings) -> None:
    """Create the first admin from LOYALTY_ADMIN_EMAIL/PASSWORD if missing (idempotent, safe on restarts)."""
    if not inspect(engine).has_table("operator_users"):
        return
    email = settings.admin_email.strip().lower()
    try:
        with session_scope(sessions) as session:
            if session.scalar(select(OperatorUser.id).where(OperatorUser.email == email)) is None:
                session.add(
                    OperatorUser(email=email, password_hash=hash_password(settings.admin_password), role="admin")
                )
                log.info("created admin operator %s", email)
    except IntegrityError:  # another process created it at the same moment
        pass
