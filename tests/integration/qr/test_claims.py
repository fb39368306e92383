"""Claiming a QR code: the first claim wins, every bad or repeated code is refused with its own problem code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend.adapters.orm.qr import QrClaim
from backend.bootstrap import Container
from backend.domain import qr as codec
from backend.domain.promotion_spec import FixedRule, PromotionSpec
from backend.errors import InvalidInput, NotFound
from backend.services.earning.promotions import create_promotion
from backend.services.qr import campaigns as qr_campaigns
from backend.services.qr import errors as qr_errors
from backend.services.qr import rendering as qr_rendering
from tests.integration.qr.campaigns import (
    OTHER_WALLET,
    WALLET,
    MakeCampaign,
    campaign_factory,
    claim,
    code_of,
    credits,
    make_brand,
)


def _claims(container: Container) -> int:
    with container.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(QrClaim)) or 0)


def _flush_prefix(container: Container) -> None:
    assert container.redis is not None
    keys = list(container.redis.client.scan_iter(match=container.redis.prefix + "*"))
    if keys:
        container.redis.client.delete(*keys)


def test_first_claim_wins_and_a_replay_is_refused(qr_container: Container, make_campaign: MakeCampaign) -> None:
    campaign = make_campaign()
    code = code_of(qr_container, campaign, 3)
    result = claim(qr_container, code, WALLET.lower())
    assert (result.campaign_id, result.code_id, result.amount) == (campaign.id, 3, 10**18)
    assert result.action_id
    assert result.wallet.lower() == WALLET and result.wallet != WALLET  # checksummed
    with pytest.raises(qr_errors.QrAlreadyClaimed):
        claim(qr_container, code, OTHER_WALLET)
    assert _claims(qr_container) == 1
    assert credits(qr_container) == [(result.wallet, 10**18)]
    other = claim(
        qr_container,
        code_of(qr_container, campaign, 4),
        OTHER_WALLET,
    )
    assert other.code_id == 4
    assert len(credits(qr_container)) == 2


def test_flushed_redis_never_allows_a_second_claim(qr_container: Container, make_campaign: MakeCampaign) -> None:
    campaign = make_campaign()
    code = code_of(qr_container, campaign)
    claim(qr_container, code, WALLET)
    _flush_prefix(qr_container)
    with pytest.raises(qr_errors.QrAlreadyClaimed):
        claim(qr_container, code, OTHER_WALLET)
    assert _claims(qr_container) == 1
    assert len(credits(qr_container)) == 1


def test_forged_malformed_expired_and_unknown_codes_get_their_own_errors(
    qr_container: Container, make_campaign: MakeCampaign
) -> None:
    campaign = make_campaign(codes=2)
    ring = qr_container.qr_keyring
    attacker = codec.QrKeyring("not-the-platform-key-123456")
    expiry, kid = qr_rendering.expires_at(campaign), ring.current_id
    forged = codec.encode(codec.QrPayload(campaign.id, 1, expiry, kid), attacker.signing_key())
    never_issued = codec.encode(codec.QrPayload(campaign.id, 3, expiry, kid), ring.signing_key())
    no_campaign = codec.encode(codec.QrPayload(999_999, 1, expiry, kid), ring.signing_key())
    cases = {
        forged: qr_errors.QrForged,
        "NOT-A-CODE": qr_errors.QrMalformed,
        never_issued: qr_errors.QrUnknownCampaign,
        no_campaign: qr_errors.QrUnknownCampaign,
    }
    for raw, error in cases.items():
        with pytest.raises(error):
            claim(qr_container, raw, WALLET)
    later = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(qr_errors.QrExpired):
        claim(
            qr_container,
            code_of(qr_container, campaign),
            WALLET,
            now=later,
        )
    assert {e.code for e in cases.values()} | {qr_errors.QrExpired.code} == {
        "qr-forged",
        "qr-malformed",
        "qr-unknown-campaign",
        "qr-expired",
    }
    assert _claims(qr_container) == 0


def test_paused_future_and_exhausted_campaigns_refuse_claims(
    qr_container: Container, make_campaign: MakeCampaign
) -> None:
    future = make_campaign(starts_at=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(qr_errors.QrCampaignInactive) as info:
        claim(qr_container, code_of(qr_container, future), WALLET)
    assert info.value.code == "qr-campaign-inactive"

    paused = make_campaign()
    with qr_container.uow() as uow:
        qr_campaigns.set_state(qr_campaigns.get_campaign(uow.session, paused.id), "paused")
        uow.commit()
    with pytest.raises(qr_errors.QrCampaignInactive):
        claim(qr_container, code_of(qr_container, paused), WALLET)

    capped = make_campaign(codes=5, max_claims=2)
    claim(qr_container, code_of(qr_container, capped, 1), WALLET)
    claim(qr_container, code_of(qr_container, capped, 2), WALLET)
    with pytest.raises(qr_errors.QrCampaignExhausted):
        claim(qr_container, code_of(qr_container, capped, 3), WALLET)
    assert _claims(qr_container) == 2
    assert sum(amount for _, amount in credits(qr_container)) == 2 * 10**18


def test_a_failed_claim_releases_its_reservation(qr_container: Container, make_campaign: MakeCampaign) -> None:
    campaign = make_campaign()
    code = code_of(qr_container, campaign)

    def broken_credit(*_args: object) -> None:
        raise RuntimeError("ledger unavailable")

    with pytest.raises(RuntimeError):
        claim(qr_container, code, WALLET, credit=broken_credit)
    assert _claims(qr_container) == 0 and credits(qr_container) == []
    assert claim(qr_container, code, WALLET).code_id == 1  # the code is still claimable


def test_invalid_wallet_is_refused(qr_container: Container, make_campaign: MakeCampaign) -> None:
    code = code_of(qr_container, make_campaign())
    for wallet in ("0x123", "0x" + "0" * 40, "not a wallet"):
        with pytest.raises(InvalidInput):
            claim(qr_container, code, wallet)


def test_a_promotion_backed_campaign_pays_what_the_promotion_says(qr_container: Container) -> None:
    acme, _ = make_brand(qr_container, "acme")
    globex, _ = make_brand(qr_container, "globex")
    spec = PromotionSpec(
        name="scan bonus",
        rules=[FixedRule(key="scan", kind="fixed", action_types=["promotion"], amount=Decimal("2.5"))],
    )
    with qr_container.uow() as uow:
        promotion_id = create_promotion(uow.session, acme, spec, "", "test").promotion.id
        uow.commit()
    make = campaign_factory(qr_container)
    with pytest.raises(NotFound):  # another brand's promotion
        make(brand_id=globex, promotion_id=promotion_id, reward_amount=None, existing_brand=True)
    campaign = make(brand_id=acme, promotion_id=promotion_id, reward_amount=None, existing_brand=True)
    result = claim(qr_container, code_of(qr_container, campaign), WALLET)
    assert result.amount == 25 * 10**17
    assert credits(qr_container) == [(result.wallet, 25 * 10**17)]
