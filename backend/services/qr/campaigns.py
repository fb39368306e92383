"""QR campaigns: create one (N codes, signed on demand), read, pause or end it, list its claims."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.adapters.orm.earning import Brand
from backend.adapters.orm.qr import QrCampaign, QrClaim
from backend.domain import qr as codec
from backend.domain.addresses import parse_address
from backend.domain.promotion_spec import FixedRule, PromotionSpec
from backend.domain.rules_amounts import (
    MAX_DECIMALS,
    MAX_WHOLE_DIGITS,
    AmountOutOfRange,
    check_units,
    from_base_units,
)
from backend.domain.timestamps import as_utc
from backend.errors import Conflict, InvalidInput, NotFound
from backend.services.earning import promotions as promotion_service
from backend.services.foundation.brands import get_brand
from backend.services.qr.errors import QrPromotionPaysNothing

MAX_CODES_PER_REQUEST = 100_000


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
    starts, ends = as_utc(spec.starts_at), as_utc(spec.ends_at)
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
