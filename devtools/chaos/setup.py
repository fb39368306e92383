"""The brands of the fault run, onboarded through the SDK as a brand would be: key, promotion, offer, QR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from loyalty_client import Brand, LoyaltyClient

OFFER_COST_TOKENS = 10
QR_REWARD = 3 * 10**18  # base units per claim
EXPIRING_AFTER_S = 12  # the expiring campaign's codes are claimed only after this


def onboard(
    base: str, admin_email: str, admin_password: str, count: int, run: str, qr_codes: int
) -> list[dict[str, Any]]:
    """Brands with an API key, a promotion (1 token per EUR, referral bonuses), an offer and QR campaigns."""
    brands = []
    with LoyaltyClient(base, timeout=180) as api:
        operator = api.login(admin_email, admin_password)
        for n in range(count):
            slug = f"chaos{run}{n}"
            client = operator.onboard_brand(f"Chaos {n}", slug, f"ops@{slug}.example", key_name="chaos")
            client.create_promotion(
                {
                    "name": "1 token per EUR, referrals 5 + 2",
                    "rules": [
                        {"key": "rate", "kind": "rate", "currency": "EUR", "per": "1", "tokens": "1"},
                        {"key": "ref", "kind": "referral", "referrer_amount": "5", "referee_amount": "2"},
                    ],
                }
            )
            brand = {"id": client.id, "headers": client.headers, "token": client.info.get("token_address")}
            setup_brand(client, brand, qr_codes)
            brands.append(brand)
    return brands


def setup_brand(client: Brand, brand: dict[str, Any], qr_codes: int) -> None:
    """Publish an offer and create a live and an expiring QR campaign for `brand` (mutated in place)."""
    brand["offer_id"] = client.create_offer("Chaos coffee", str(OFFER_COST_TOKENS), 1_000_000)["id"]
    now = datetime.now(UTC)
    brand["qr_live"] = _campaign_codes(client, "live", qr_codes, now + timedelta(hours=2))
    expiring_at = now + timedelta(seconds=EXPIRING_AFTER_S)
    brand["qr_expiring"] = _campaign_codes(client, "expiring", max(5, qr_codes // 20), expiring_at)
    brand["qr_expiring_at"] = expiring_at.timestamp()


def _campaign_codes(client: Brand, name: str, codes: int, ends_at: datetime) -> list[str]:
    campaign = client.create_qr_campaign(name, codes, ends_at, QR_REWARD)
    return client.all_qr_codes(campaign["id"], codes)
