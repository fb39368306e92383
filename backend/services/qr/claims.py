"""QR claims: a code is claimed exactly once (campaigns: `qr_campaigns`; codes and images: `qr_rendering`).

A claim is checked in order: format, signature, expiry, campaign (exists, issued the code, active, not exhausted),
then Redis `SET NX` (fast duplicate refusal), then the database: the claim row (unique per code) and the credit go
in ONE transaction, so a code is credited once even if Redis is flushed, down or wrong.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.cache import KeyedRedis
from backend.adapters.db import UnitOfWork
from backend.adapters.orm.earning import Promotion
from backend.adapters.orm.qr import QrCampaign, QrClaim
from backend.config import Settings
from backend.domain import qr as codec
from backend.domain.actions import ActionIn
from backend.domain.addresses import parse_address
from backend.domain.timestamps import as_utc
from backend.services.earning.actions.errors import IdempotencyConflict
from backend.services.earning.actions.recorder import record_action
from backend.services.qr.errors import (
    QrAlreadyClaimed,
    QrCampaignExhausted,
    QrCampaignInactive,
    QrClaimEarnsNothing,
    QrExpired,
    QrForged,
    QrMalformed,
    QrUnknownCampaign,
)

log = logging.getLogger("loyalty.qr")
IN_FLIGHT_TTL_S = 30  # how long a claim in progress holds its Redis reservation
INFLIGHT, CLAIMED = "inflight:", "claimed:"  # Redis values: a claim in progress / committed
# Delete the reservation only if it is still ours (another claimant may hold it after our TTL ran out).
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@dataclass(frozen=True)
class ClaimCredit:
    """The credit a claim recorded (none when its campaign pays nothing on its own)."""

    action_id: str
    amount: int | None


@dataclass(frozen=True)
class ClaimResult:
    claim_id: int
    campaign_id: int
    code_id: int
    wallet: str
    action_id: str | None
    amount: int | None
    claimed_at: datetime


# (session, campaign, wallet, payload) -> the credit recorded in that same session
CreditFn = Callable[[Session, QrCampaign, str, codec.QrPayload], ClaimCredit | None]


def keyring(settings: Settings) -> codec.QrKeyring:
    return codec.QrKeyring(settings.qr_secret, [s.strip() for s in settings.qr_retired_secrets.split(",")])


def _redis_reserve(cache: KeyedRedis, key: str, token: str, ttl_s: int) -> bool | None:
    """True if reserved, False if someone holds it, None if Redis is unreachable (the database decides alone)."""
    try:
        return bool(cache.client.set(key, token, nx=True, ex=max(1, ttl_s)))
    except redis.RedisError as exc:
        log.warning("Redis unavailable for QR duplicate check, relying on the database: %s", exc)
        return None


def _redis_release(cache: KeyedRedis, key: str, token: str) -> None:
    try:
        cache.client.eval(_RELEASE_LUA, 1, key, token)
    except redis.RedisError as exc:  # the key expires with the code anyway
        log.warning("could not release QR reservation %s: %s", key, exc)


def _redis_mark_claimed(cache: KeyedRedis, key: str, token: str, ttl_s: int) -> None:
    try:
        cache.client.set(key, CLAIMED + token, ex=max(1, ttl_s))
    except redis.RedisError as exc:  # the database still refuses a second claim
        log.warning("could not mark QR code claimed in Redis %s: %s", key, exc)


def _redis_claimed(cache: KeyedRedis, key: str) -> bool:
    """Does Redis say the code's claim was committed (not merely in flight)? Unreachable Redis: no."""
    try:
        value = cache.client.get(key)
    except redis.RedisError:
        return False
    return value is not None and (value.decode() if isinstance(value, bytes) else str(value)).startswith(CLAIMED)


def claim_key(cache: KeyedRedis, payload: codec.QrPayload) -> str:
    return cache.key("qr", "claimed", payload.campaign_id, payload.serial)


def claim(
    sessions: sessionmaker[Session],
    cache: KeyedRedis | None,
    ring: codec.QrKeyring,
    raw_code: str,
    wallet: str,
    *,
    credit: CreditFn | None = None,
    now: datetime | None = None,
    admit: Callable[[str], None] | None = None,
) -> ClaimResult:
    """Claim `raw_code` for `wallet`; the first claim of a code wins, every other one gets `qr-already-claimed`.

    `admit(wallet)` runs once the code proved genuine and unexpired (the API's per-wallet rate limit: forged or
    made-up codes cannot use up a wallet's claims).
    """
    now = now or datetime.now(UTC)
    try:
        payload = codec.decode(raw_code, ring)
    except codec.ForgedCode as exc:
        raise QrForged(str(exc)) from exc
    except codec.QrCodeError as exc:
        raise QrMalformed(str(exc)) from exc
    if now.timestamp() >= payload.expires_at:
        raise QrExpired(f"the code expired at {datetime.fromtimestamp(payload.expires_at, UTC).isoformat()}")
    wallet = parse_address(wallet)
    if admit is not None:
        admit(wallet)
    credit = credit or default_credit

    with UnitOfWork(sessions) as uow:
        session = uow.session
        campaign = session.get(QrCampaign, payload.campaign_id)
        if campaign is None or not 1 <= payload.serial <= campaign.code_count:
            raise QrUnknownCampaign("no campaign issued this code")
        _check_open(campaign, now)

        token, key, reserved = secrets.token_hex(8), "", False
        remaining_s = payload.expires_at - int(now.timestamp())
        if cache is not None:
            key = claim_key(cache, payload)
            # NOTE: a committed claim holds the key until the code expires and is refused here, instantly. A key
            # only in flight may belong to a claim that died before committing (a killed API worker): then the
            # database decides; a live twin makes our insert wait on the unique index, then fail.
            held = _redis_reserve(cache, key, INFLIGHT + token, min(IN_FLIGHT_TTL_S, remaining_s))
            reserved = held is True
            if held is False and _redis_claimed(cache, key):
                raise QrAlreadyClaimed("this code was already claimed")
        try:
            result = _record_claim(session, campaign, payload, wallet, credit, now)
            uow.commit()
        except QrAlreadyClaimed:
            if cache is not None and key:
                _redis_mark_claimed(cache, key, token, remaining_s)  # re-warm after a Redis flush
            raise
        except BaseException:
            if cache is not None and reserved:
                _redis_release(cache, key, INFLIGHT + token)
            raise
    if cache is not None and key:
        _redis_mark_claimed(cache, key, token, remaining_s)
    return result


def _check_open(campaign: QrCampaign, now: datetime) -> None:
    if campaign.state != "active":
        raise QrCampaignInactive(f"campaign {campaign.id} is {campaign.state}")
    if now < as_utc(campaign.starts_at):
        raise QrCampaignInactive(f"campaign {campaign.id} starts at {as_utc(campaign.starts_at).isoformat()}")
    if now >= as_utc(campaign.ends_at):
        raise QrExpired(f"campaign {campaign.id} ended at {as_utc(campaign.ends_at).isoformat()}")
    if campaign.max_claims is not None and campaign.claims_count >= campaign.max_claims:
        raise QrCampaignExhausted(f"campaign {campaign.id} reached its {campaign.max_claims} claims")


def _record_claim(
    session: Session, campaign: QrCampaign, payload: codec.QrPayload, wallet: str, credit: CreditFn, now: datetime
) -> ClaimResult:
    row = QrClaim(campaign_id=campaign.id, serial=payload.serial, wallet=wallet, claimed_at=now)
    session.add(row)
    try:
        session.flush()  # the unique (campaign_id, serial) decides here; a concurrent twin waits, then fails
    except IntegrityError as exc:
        raise QrAlreadyClaimed("this code was already claimed") from exc
    credited = credit(session, campaign, wallet, payload)
    if credited is not None:
        row.action_id, row.amount = credited.action_id, credited.amount
    # NOTE: last statement before commit, so the campaign row stays locked as briefly as possible.
    bumped = session.execute(
        update(QrCampaign)
        .where(
            QrCampaign.id == campaign.id,
            QrCampaign.state == "active",
            (QrCampaign.max_claims.is_(None)) | (QrCampaign.claims_count < QrCampaign.max_claims),
        )
        .values(claims_count=QrCampaign.claims_count + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount != 1:  # type: ignore[attr-defined]
        raise QrCampaignExhausted(f"campaign {campaign.id} reached its {campaign.max_claims} claims")
    session.flush()
    return ClaimResult(
        claim_id=row.id,
        campaign_id=campaign.id,
        code_id=payload.serial,
        wallet=wallet,
        action_id=row.action_id,
        amount=row.amount,
        claimed_at=now,
    )


def default_credit(session: Session, campaign: QrCampaign, wallet: str, payload: codec.QrPayload) -> ClaimCredit | None:
    """Record the claim as a `promotion` action (idempotency key = the code's nonce) in the caller's transaction."""
    if campaign.promotion_id is None:
        return None
    action = ActionIn(
        idempotency_key=payload.nonce, type="promotion", wallet=wallet, promotion_id=campaign.promotion_id
    )
    try:
        result = record_action(session, campaign.brand_id, action)
    except IdempotencyConflict as exc:  # the action exists for another wallet: the code was claimed before
        raise QrAlreadyClaimed("this code was already claimed") from exc
    credits = result.body.get("credits", [])
    amount = sum(int(c["amount"]) for c in credits)
    if amount <= 0 and result.status == "created":
        # NOTE: raised inside the claim's transaction: the claim row and the action roll back, the code stays usable.
        reason = _nothing_reason(session, campaign.promotion_id, result.body)
        raise QrClaimEarnsNothing(f"this claim would earn nothing ({reason}); the code was not used", reason=reason)
    return ClaimCredit(action_id=result.body["action_id"], amount=amount)


def _nothing_reason(session: Session, promotion_id: int, body: dict[str, object]) -> str:
    reasons = body.get("no_credit_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], dict):
        return str(reasons[0].get("code", "no-credit"))
    promotion = session.get(Promotion, promotion_id)
    if promotion is not None and promotion.budget is not None and promotion.spent >= promotion.budget:
        return "budget-exhausted"
    return "promotion-pays-nothing"
