"""Campaigns and codes for QR tests, made through the service layer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from backend.adapters.orm.earning import Brand, LedgerEntry
from backend.adapters.orm.minting import CreditOutbox
from backend.adapters.orm.qr import QrCampaign
from backend.bootstrap import Container
from backend.services.foundation.api_keys import create_key
from backend.services.qr import campaigns as qr_campaigns
from backend.services.qr import claims as qr_service
from backend.services.qr import rendering as qr_rendering

WALLET = "0x" + "ab" * 20
OTHER_WALLET = "0x" + "cd" * 20

MakeCampaign = Callable[..., QrCampaign]


def make_brand(container: Container, slug: str = "acme") -> tuple[int, dict[str, str]]:
    """A brand row and an API key, without deploying its token (claims credit the ledger, not the chain)."""
    with container.uow() as uow:
        brand = Brand(
            slug=slug,
            name=slug.title(),
            contact_email=f"qr@{slug}.example",
            chain_id=container.chain.chain_id,
            token_address="0x" + f"{len(slug) + 0xA0:040x}",
            token_symbol=slug[:4].upper(),
            token_decimals=18,
            is_coalition=False,
        )
        uow.session.add(brand)
        uow.session.flush()
        _, key = create_key(uow.session, brand.id, "qr-tests", ["promotions:write", "analytics:read"])
        uow.commit()
        return brand.id, {"X-API-Key": key}


def campaign_factory(container: Container) -> MakeCampaign:
    brands: dict[int, int] = {}

    def make(brand_id: int = 1, codes: int = 5, existing_brand: bool = False, **overrides: Any) -> QrCampaign:
        if existing_brand:
            brands[brand_id] = brand_id
        elif brand_id not in brands:
            brands[brand_id] = make_brand(container, f"brand{brand_id}")[0]
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "name": "spring flyers",
            "codes": codes,
            "starts_at": now - timedelta(minutes=1),
            "ends_at": now + timedelta(days=1),
            "reward_amount": 10**18,
        }
        values.update(overrides)
        with container.uow() as uow:
            campaign = qr_campaigns.create_campaign(
                uow.session,
                container.qr_keyring,
                brand_id=brands[brand_id],
                spec=qr_campaigns.CampaignSpec(**values),
                created_by="test",
                now=now,
            )
            uow.commit()
        return campaign

    return make


def code_of(container: Container, campaign: QrCampaign, serial: int = 1) -> str:
    return qr_rendering.code_text(campaign, serial, container.qr_keyring)


def credits(container: Container) -> list[tuple[str, int]]:
    """(wallet, amount) of every credit in the ledger that reached the outbox (what will be minted)."""
    with container.uow() as uow:
        rows = uow.session.execute(select(CreditOutbox.wallet, CreditOutbox.amount).order_by(CreditOutbox.id))
        entries = uow.session.scalar(select(func.count()).select_from(LedgerEntry))
        result = [(w, int(a)) for w, a in rows.tuples()]
    assert entries == len(result)
    return result


def claim(container: Container, code: str, wallet: str, **options: Any) -> qr_service.ClaimResult:
    """`qr_service.claim` with the container's database, Redis and keyring."""
    return qr_service.claim(container.sessions, container.redis, container.qr_keyring, code, wallet, **options)
