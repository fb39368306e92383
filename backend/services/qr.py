"""QR campaigns: create N signed codes, render and export them, and claim a code exactly once.

A claim is checked in order: format, signature, expiry, campaign (exists, issued the code, active, not exhausted),
then Redis `SET NX` (fast duplicate refusal), then the database: the claim row (unique per code) and the credit go
in ONE transaction, so a code is credited once even if Redis is flushed, down or wrong.
"""

from __future__ import annotations

import csv
import html
import io
import logging
import secrets
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import qrcode
import redis
from PIL import Image
from qrcode.image.svg import SvgPathImage
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.adapters.cache import KeyedRedis
from backend.adapters.orm.earning import Brand, Promotion
from backend.adapters.orm.qr import QrCampaign, QrClaim
from backend.bootstrap import Container
from backend.config import Settings
from backend.domain import qr as codec
from backend.domain.actions import ActionIn
from backend.domain.addresses import parse_address
from backend.domain.rules import FixedRule, PromotionSpec
from backend.domain.rules_amounts import (
    MAX_DECIMALS,
    MAX_WHOLE_DIGITS,
    AmountOutOfRange,
    check_units,
    from_base_units,
)
from backend.errors import Conflict, InvalidInput, LoyaltyError, NotFound
from backend.services import promotions as promotion_service
from backend.services.actions.errors import IdempotencyConflict
from backend.services.actions.recorder import record_action
from backend.services.brands import get_brand

log = logging.getLogger("loyalty.qr")
MAX_CODES_PER_REQUEST = 100_000
IN_FLIGHT_TTL_S = 30  # how long a claim in progress holds its Redis reservation
INFLIGHT, CLAIMED = "inflight:", "claimed:"  # Redis values: a claim in progress / committed
# Delete the reservation only if it is still ours (another claimant may hold it after our TTL ran out).
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class QrMalformed(InvalidInput):
    code = "qr-malformed"
    title = "Not a QR code of this platform"


class QrForged(InvalidInput):
    code = "qr-forged"
    title = "The QR code's signature is invalid"


class QrExpired(LoyaltyError):
    status = 410
    code = "qr-expired"
    title = "The QR code has expired"


class QrUnknownCampaign(NotFound):
    code = "qr-unknown-campaign"
    title = "The QR code belongs to no known campaign"


class QrAlreadyClaimed(Conflict):
    code = "qr-already-claimed"
    title = "The QR code was already claimed"


class QrCampaignInactive(Conflict):
    code = "qr-campaign-inactive"
    title = "The QR campaign is not active"


class QrCampaignExhausted(QrCampaignInactive):
    code = "qr-campaign-exhausted"
    title = "The QR campaign reached its maximum number of claims"


class QrClaimEarnsNothing(Conflict):
    code = "claim-earns-nothing"
    title = "The claim would earn nothing; the code stays unclaimed"


class QrPromotionPaysNothing(InvalidInput):
    code = "qr-promotion-pays-nothing"
    title = "The promotion pays nothing for a QR claim"


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    codes: int
    starts_at: datetime
    ends_at: datetime
    max_claims: int | None = None
    promotion_id: int | None = None
    reward_amount: int | None = None
    token_address: str | None = None


@dataclass(frozen=True)
class Credit:
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
CreditFn = Callable[[Session, QrCampaign, str, codec.QrPayload], Credit | None]


def keyring(settings: Settings) -> codec.QrKeyring:
    return codec.QrKeyring(settings.qr_secret, [s.strip() for s in settings.qr_retired_secrets.split(",")])


def container_keyring(container: Container) -> codec.QrKeyring:
    ring = container.extras.get("qr_keyring")
    if ring is None:
        ring = container.extras.setdefault("qr_keyring", keyring(container.settings))
    return ring  # type: ignore[no-any-return]


def _utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (SQLite returns them naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- campaigns ---------------------------------------------------------------------------------------------


def create_campaign(
    session: Session,
    ring: codec.QrKeyring,
    *,
    brand_id: int,
    spec: CampaignSpec,
    created_by: str,
    now: datetime,
    coalition_address: str = "",
) -> QrCampaign:
    """Create a campaign of `spec.codes` codes (serials 1..N); signing them is on demand, so this is one row.

    A fixed reward becomes a promotion of its own (one `fixed` rule on `promotion` actions, budget = reward × cap),
    so claims go through the same rules engine, budget guard, ledger and outbox as every other action.
    """
    if not 1 <= spec.codes <= MAX_CODES_PER_REQUEST:
        raise InvalidInput(f"codes must be between 1 and {MAX_CODES_PER_REQUEST}")
    starts, ends = _utc(spec.starts_at), _utc(spec.ends_at)
    if ends <= starts or ends <= now:
        raise InvalidInput("ends_at must be after starts_at and in the future")
    if ends.timestamp() > codec.MAX_U32:
        raise InvalidInput("ends_at is too far in the future")
    if (spec.promotion_id is None) == (spec.reward_amount is None):
        raise InvalidInput("give either promotion_id or reward_amount (a fixed reward per claim)")
    if spec.reward_amount is not None and spec.reward_amount <= 0:
        raise InvalidInput("reward_amount must be positive (token base units)")
    if spec.reward_amount is not None:
        check_units(spec.reward_amount, "reward_amount")
        total = spec.reward_amount * (spec.max_claims or spec.codes)
        if total >= 10**MAX_WHOLE_DIGITS * 10**MAX_DECIMALS:  # the promotion budget it becomes must be writable
            raise AmountOutOfRange(f"reward_amount × max_claims must be below 10^{MAX_WHOLE_DIGITS} tokens")
    if spec.max_claims is not None and spec.max_claims < 1:
        raise InvalidInput("max_claims must be at least 1")
    brand = get_brand(session, brand_id)
    if spec.promotion_id is not None:
        if spec.token_address:
            raise InvalidInput("a promotion-backed campaign pays in the promotion's token; omit token_address")
        view = promotion_service.get_promotion(session, brand_id, spec.promotion_id)  # 404 unless the brand's
        _ensure_pays_claims(view, now)
        promotion_id, token = view.promotion.id, view.version.token_address
    else:
        assert spec.reward_amount is not None
        promotion_id, token = _fixed_reward_promotion(session, brand, spec, created_by, coalition_address)
    campaign = QrCampaign(
        brand_id=brand_id,
        name=spec.name,
        promotion_id=promotion_id,
        reward_amount=spec.reward_amount,
        token_address=token,
        starts_at=starts,
        ends_at=ends,
        max_claims=spec.max_claims,
        code_count=spec.codes,
        claims_count=0,
        state="active",
        key_id=ring.current_id,
        created_by=created_by,
    )
    session.add(campaign)
    session.flush()
    return campaign


def _ensure_pays_claims(view: promotion_service.PromotionView, now: datetime) -> None:
    """A claim is a `promotion` action: only a fixed rule on `promotion` actions pays it, within budget and time."""
    rules = PromotionSpec.model_validate(view.version.definition)
    if not any(isinstance(r, FixedRule) and "promotion" in r.action_types and r.amount > 0 for r in rules.rules):
        raise QrPromotionPaysNothing(
            f"promotion {view.promotion.id} has no fixed rule on `promotion` actions: its claims would earn nothing"
        )
    budget = view.promotion.budget
    if budget is not None and view.promotion.spent >= budget:
        raise QrPromotionPaysNothing(f"promotion {view.promotion.id} has spent its budget")
    if rules.ends_at is not None and rules.ends_at <= now:
        raise QrPromotionPaysNothing(f"promotion {view.promotion.id} has ended")


def _fixed_reward_promotion(
    session: Session, brand: Brand, spec: CampaignSpec, created_by: str, coalition_address: str
) -> tuple[int, str]:
    assert spec.reward_amount is not None
    pay_in: dict[str, object] = {}
    if spec.token_address:
        token = parse_address(spec.token_address)
        if coalition_address and token == coalition_address:
            pay_in = {"pay_in_coalition": True}
        elif token != brand.token_address:
            owner = session.scalar(select(Brand).where(Brand.token_address == token))
            if owner is None:
                raise InvalidInput(f"{token} is not a token of this platform")
            pay_in = {"pay_in_brand_id": owner.id}  # the promotions service checks the owner's consent
    tokens = from_base_units(spec.reward_amount, brand.token_decimals)
    # NOTE: the budget repeats the campaign's claim cap in the ledger's own guard (defence in depth).
    budget = from_base_units(spec.reward_amount * (spec.max_claims or spec.codes), brand.token_decimals)
    promotion = PromotionSpec(
        name=f"QR: {spec.name}"[:200],
        budget=budget,  # type: ignore[arg-type]
        rules=[FixedRule(key="qr", kind="fixed", action_types=["promotion"], amount=tokens)],  # type: ignore[arg-type]
        **pay_in,  # type: ignore[arg-type]
    )
    view = promotion_service.create_promotion(session, brand.id, promotion, coalition_address, created_by)
    return view.promotion.id, view.version.token_address


def get_campaign(session: Session, campaign_id: int) -> QrCampaign:
    campaign = session.get(QrCampaign, campaign_id)
    if campaign is None:
        raise NotFound(f"QR campaign {campaign_id} not found")
    return campaign


def list_campaigns(session: Session, brand_id: int | None, *, limit: int = 100, offset: int = 0) -> list[QrCampaign]:
    query = select(QrCampaign).order_by(QrCampaign.id.desc()).limit(limit).offset(offset)
    if brand_id is not None:
        query = query.where(QrCampaign.brand_id == brand_id)
    return list(session.scalars(query))


def set_state(campaign: QrCampaign, state: str) -> QrCampaign:
    if state not in ("active", "paused", "ended"):
        raise InvalidInput("state must be active, paused or ended")
    if campaign.state == "ended" and state != "ended":
        raise Conflict("an ended campaign cannot be reopened")
    campaign.state = state
    return campaign


def list_claims(session: Session, campaign_id: int, *, limit: int = 100, offset: int = 0) -> list[QrClaim]:
    query = select(QrClaim).where(QrClaim.campaign_id == campaign_id).order_by(QrClaim.id).limit(limit).offset(offset)
    return list(session.scalars(query))


# --- codes ---------------------------------------------------------------------------------------------


def expires_at(campaign: QrCampaign) -> int:
    return int(_utc(campaign.ends_at).timestamp())


def code_text(campaign: QrCampaign, serial: int, ring: codec.QrKeyring) -> str:
    if not 1 <= serial <= campaign.code_count:
        raise NotFound(f"campaign {campaign.id} has no code {serial}")
    payload = codec.QrPayload(campaign.id, serial, expires_at(campaign), campaign.key_id)
    return codec.encode(payload, signing_key(ring, campaign))


def codes_page(campaign: QrCampaign, ring: codec.QrKeyring, offset: int, limit: int) -> list[tuple[int, str]]:
    """(code_id, code) for serials offset+1 .. offset+limit."""
    first, last = offset + 1, min(campaign.code_count, offset + limit)
    serials = range(first, last + 1)
    texts = codec.encode_many(campaign.id, serials, expires_at(campaign), campaign.key_id, signing_key(ring, campaign))
    return list(zip(serials, texts, strict=True))


def signing_key(ring: codec.QrKeyring, campaign: QrCampaign) -> bytes:
    try:
        return ring.signing_key(campaign.key_id)
    except KeyError as exc:
        raise Conflict(f"the key that signed campaign {campaign.id}'s codes was retired") from exc


def _matrix(text: str) -> qrcode.QRCode:  # type: ignore[type-arg]
    # NOTE: level M (15 % of the symbol may be damaged) suits printed codes; the 37-char code fits version 2.
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    return qr


def render_png(text: str, box_size: int = 8) -> bytes:
    """A black-and-white PNG, `box_size` pixels per module, 4-module quiet zone."""
    matrix = _matrix(text).get_matrix()
    side = len(matrix)
    pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
    image = Image.frombytes("L", (side, side), pixels).resize((side * box_size,) * 2, Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.convert("1").save(out, format="PNG")
    return out.getvalue()


def render_svg(text: str) -> bytes:
    """A scalable SVG (one path), for print shops."""
    image = _matrix(text).make_image(image_factory=SvgPathImage)
    return bytes(image.to_string(encoding="utf-8"))


class _ChunkSink(io.RawIOBase):
    """A write-only, non-seekable file: zipfile streams into it (data descriptors) and we hand out the bytes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def export_zip(
    campaign: QrCampaign, ring: codec.QrKeyring, *, page: int = 500, on_render: Callable[[], None] | None = None
) -> Iterator[bytes]:
    """Stream a zip of every code as `codes/<code_id>.png` plus `manifest.csv`; memory stays one page deep."""
    sink = _ChunkSink()
    manifest = io.StringIO()
    rows = csv.writer(manifest, lineterminator="\n")
    rows.writerow(["code_id", "code", "campaign_id", "expires_at", "file"])
    expiry = datetime.fromtimestamp(expires_at(campaign), UTC).isoformat()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for offset in range(0, campaign.code_count, page):
            for serial, text in codes_page(campaign, ring, offset, page):
                name = f"codes/{serial:06d}.png"
                archive.writestr(name, render_png(text))  # PNG is compressed already
                if on_render is not None:
                    on_render()
                rows.writerow([serial, text, campaign.id, expiry, name])
            yield sink.take()
        archive.writestr("manifest.csv", manifest.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    yield sink.take()


_SHEET_CSS = (
    "@page{size:A4;margin:10mm}body{font-family:sans-serif;margin:0}"
    ".grid{display:grid;grid-template-columns:repeat(4,1fr);gap:4mm}"
    ".cell{border:1px dashed #bbb;padding:2mm;text-align:center;break-inside:avoid}"
    ".cell svg{width:38mm;height:38mm}.id{font-size:8pt;color:#555;word-break:break-all}"
)


def render_sheet(campaign: QrCampaign, ring: codec.QrKeyring, offset: int, limit: int) -> str:
    """A printable HTML page of codes (4 per row on A4, cut lines), each labelled with its id."""
    cells = []
    for serial, text in codes_page(campaign, ring, offset, limit):
        svg = render_svg(text).decode()
        cells.append(f'<div class="cell">{svg}<div class="id">#{serial} · {text}</div></div>')
    title = html.escape(campaign.name)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>{_SHEET_CSS}</style>'
        f'</head><body><h1>{title}</h1><div class="grid">{"".join(cells)}</div></body></html>'
    )


# --- claims --------------------------------------------------------------------------------------------


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
    container: Container,
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
        payload = codec.decode(raw_code, container_keyring(container))
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

    with container.uow() as uow:
        session = uow.session
        campaign = session.get(QrCampaign, payload.campaign_id)
        if campaign is None or not 1 <= payload.serial <= campaign.code_count:
            raise QrUnknownCampaign("no campaign issued this code")
        _check_open(campaign, now)

        cache, token, key, reserved = container.redis, secrets.token_hex(8), "", False
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
    if now < _utc(campaign.starts_at):
        raise QrCampaignInactive(f"campaign {campaign.id} starts at {_utc(campaign.starts_at).isoformat()}")
    if now >= _utc(campaign.ends_at):
        raise QrExpired(f"campaign {campaign.id} ended at {_utc(campaign.ends_at).isoformat()}")
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


def default_credit(session: Session, campaign: QrCampaign, wallet: str, payload: codec.QrPayload) -> Credit | None:
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
    return Credit(action_id=result.body["action_id"], amount=amount)


def _nothing_reason(session: Session, promotion_id: int, body: dict[str, object]) -> str:
    reasons = body.get("no_credit_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], dict):
        return str(reasons[0].get("code", "no-credit"))
    promotion = session.get(Promotion, promotion_id)
    if promotion is not None and promotion.budget is not None and promotion.spent >= promotion.budget:
        return "budget-exhausted"
    return "promotion-pays-nothing"
