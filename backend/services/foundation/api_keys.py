"""Brand API keys: `lk_<id>_<secret>`, shown once, stored as sha256(secret), scoped, revocable, rotatable.

NOTE: a plain sha256 is enough here (unlike passwords): the secret is 32 random bytes (256 bits of entropy),
so a leaked hash cannot be brute-forced, and a fast hash keeps per-request verification cheap at thousands of
requests per second. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.db import session_scope
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import ApiKey
from backend.errors import InvalidInput, NotFound

# NOTE: GDPR export and erasure are never in the default set: a key reaches customers' personal data only
# when a manager asked for it by name.
KeyScope = Literal["actions:write", "promotions:write", "analytics:read", "gdpr:export", "gdpr:erase"]
KEY_SCOPES = frozenset(get_args(KeyScope))
DEFAULT_SCOPES = ("actions:write", "promotions:write", "analytics:read")
log = logging.getLogger("loyalty.api_keys")
LAST_USED_EVERY_S = 60  # write `last_used_at` at most once a minute per key, not once per request
CACHE_TTL_S = 5.0  # a revocation in another process takes effect within this time


class InvalidScopes(InvalidInput):
    code = "invalid-scopes"
    title = "Unknown or empty API key scopes"


@dataclass(frozen=True)
class VerifiedKey:
    key_id: int
    brand_id: int
    scopes: frozenset[str]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(raw: str) -> tuple[int, str] | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "lk" or not parts[1].isdigit() or not parts[2] or len(raw) > 200:
        return None
    return int(parts[1]), parts[2]


def create_key(session: Session, brand_id: int, name: str, scopes: Sequence[str] | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key (the only time it exists).

    No `scopes` means the default set; an empty list is refused (it must never mean "everything").
    """
    wanted = sorted(set(DEFAULT_SCOPES if scopes is None else scopes))
    unknown = [s for s in wanted if s not in KEY_SCOPES]
    if unknown or not wanted:
        raise InvalidScopes(f"unknown or no scopes {unknown}; name at least one of {sorted(KEY_SCOPES)}")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(brand_id=brand_id, name=name, secret_hash=_hash(secret), scopes=" ".join(wanted))
    session.add(key)
    session.flush()
    return key, f"lk_{key.id}_{secret}"


def get_key(session: Session, brand_id: int, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.brand_id != brand_id:
        raise NotFound(f"API key {key_id} not found")
    return key


def list_keys(session: Session, brand_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.brand_id == brand_id).order_by(ApiKey.id)))


def revoke_key(session: Session, brand_id: int, key_id: int, cache: ApiKeyCache | None = None) -> ApiKey:
    key = get_key(session, brand_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    if cache is not None:
        cache.forget(key_id)
    return key


def rotate_key(session: Session, brand_id: int, key_id: int, cache: ApiKeyCache | None = None) -> tuple[ApiKey, str]:
    """A new key with the same name and scopes; the old one is revoked in the same transaction."""
    old = get_key(session, brand_id, key_id)
    if old.revoked_at is not None:
        raise InvalidInput(f"API key {key_id} is revoked; create a new key instead")
    new, plaintext = create_key(session, brand_id, old.name, old.scopes.split())
    old.revoked_at = utcnow()
    old.replaced_by_id = new.id
    if cache is not None:
        cache.forget(key_id)
    return new, plaintext


class ApiKeyCache:
    """Verifies keys with a short in-process cache so a busy POS does not cost a key lookup per request."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        # key id -> (secret hash, verified key or None if revoked or unknown, cached at)
        self._entries: dict[int, tuple[str, VerifiedKey | None, float]] = {}
        self._last_used: dict[int, float] = {}

    def forget(self, key_id: int) -> None:
        with self._lock:
            self._entries.pop(key_id, None)

    def answers_from_memory(self, raw: str) -> bool:
        """True when `verify(raw)` needs no database round trip (so an event loop may call it directly)."""
        parsed = parse_key(raw)
        if parsed is None:
            return True
        key_id, now = parsed[0], time.monotonic()
        return self._cached(key_id, now) is not None and not self._touch_due(key_id, now)

    def verify(self, raw: str) -> VerifiedKey | None:
        """The key's brand and scopes, or None; a lost database raises (the caller answers 503)."""
        parsed = parse_key(raw)
        if parsed is None:
            return None
        key_id, secret = parsed
        now = time.monotonic()
        entry = self._cached(key_id, now) or self._load(key_id, now)
        stored_hash, verified, _ = entry
        if verified is None or not hmac.compare_digest(stored_hash, _hash(secret)):
            return None
        if self._touch_due(key_id, now):
            self._last_used[key_id] = now
            self._touch(key_id)
        return verified

    def _cached(self, key_id: int, now: float) -> tuple[str, VerifiedKey | None, float] | None:
        """The cache entry of `key_id` while it is fresh, else None (then it must be loaded)."""
        entry = self._entries.get(key_id)
        return entry if entry is not None and now - entry[2] <= CACHE_TTL_S else None

    def _touch_due(self, key_id: int, now: float) -> bool:
        return now - self._last_used.get(key_id, -1e9) > LAST_USED_EVERY_S

    def _load(self, key_id: int, now: float) -> tuple[str, VerifiedKey | None, float]:
        with session_scope(self._sessions) as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                entry: tuple[str, VerifiedKey | None, float] = ("", None, now)
            else:
                verified = (
                    VerifiedKey(key.id, key.brand_id, frozenset(key.scopes.split())) if key.revoked_at is None else None
                )
                entry = (key.secret_hash, verified, now)
        with self._lock:
            self._entries[key_id] = entry
        return entry

    def _touch(self, key_id: int) -> None:
        # NOTE: `last_used_at` is bookkeeping: a lost database must not fail the request that uses the key.
        try:
            self._write_last_used(key_id)
        except DBAPIError as exc:
            log.warning("API key %s: last use not recorded (%s)", key_id, exc)

    def _write_last_used(self, key_id: int) -> None:
        now = utcnow()
        with session_scope(self._sessions) as session:
            session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key_id,
                    or_(
                        ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - timedelta(seconds=LAST_USED_EVERY_S)
                    ),
                )
                .values(last_used_at=now)
            )
