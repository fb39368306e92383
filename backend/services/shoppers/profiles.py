"""Shopper profiles (off-chain: email, preferences, marketing consent) and the brand customer ids they link to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import Action, Brand
from backend.adapters.orm.shoppers import Shopper

_UNSET: Any = object()


def ensure_shopper(session: Session, wallet: str) -> Shopper:
    """The shopper row of `wallet`, created on first use (race-safe: a concurrent insert is re-read)."""
    shopper = session.get(Shopper, wallet)
    if shopper is not None:
        return shopper
    shopper = Shopper(wallet=wallet, preferences={}, marketing_consent=False)
    if session.get_bind().dialect.name == "sqlite":
        # NOTE: SQLite serializes writers (a pysqlite SAVEPOINT outside a transaction would commit on release).
        session.add(shopper)
        session.flush()
        return shopper
    try:
        with session.begin_nested():
            session.add(shopper)
        return shopper
    except IntegrityError:
        existing = session.get(Shopper, wallet)
        assert existing is not None
        return existing


def record_sign_in(session: Session, wallet: str) -> Shopper:
    shopper = ensure_shopper(session, wallet)
    shopper.last_sign_in_at = utcnow()
    return shopper


def update_profile(
    session: Session,
    wallet: str,
    *,
    email: str | None = _UNSET,
    preferences: dict[str, Any] | None = _UNSET,
    marketing_consent: bool | None = _UNSET,
) -> Shopper:
    """Change only the given fields; a consent change records when it happened (GDPR proof of consent)."""
    shopper = ensure_shopper(session, wallet)
    if email is not _UNSET:
        shopper.email = email
    if preferences is not _UNSET:
        shopper.preferences = dict(preferences or {})
    if marketing_consent is not _UNSET and marketing_consent is not None:
        if bool(marketing_consent) != shopper.marketing_consent or shopper.marketing_consent_at is None:
            shopper.marketing_consent_at = utcnow()
        shopper.marketing_consent = bool(marketing_consent)
    shopper.updated_at = utcnow()
    return shopper


@dataclass(frozen=True)
class LinkedCustomer:
    brand_id: int
    brand_slug: str
    customer_id: str


def linked_customers(session: Session, wallet: str) -> list[LinkedCustomer]:
    """Brand customer ids that actions credited to this wallet carried."""
    rows = session.execute(
        select(Action.brand_id, Brand.slug, Action.customer_id)
        .join(Brand, Brand.id == Action.brand_id)
        .where(Action.wallet == wallet, Action.customer_id.is_not(None))
        .distinct()
        .order_by(Action.brand_id, Action.customer_id)
    )
    return [LinkedCustomer(b, slug, str(c)) for b, slug, c in rows]
