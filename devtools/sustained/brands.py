"""The sustained benchmark's brands, onboarded through the SDK: each its own token and a 1 token per EUR rule."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty_client import LoyaltyClient

DEV_ADMIN = ("admin@example.com", "admin")  # the product's development defaults (LOYALTY_ADMIN_*)


@dataclass(frozen=True)
class BenchBrand:
    id: int
    api_key: str
    large: bool


def onboard(base_url: str, run: str, large: int, small: int) -> list[BenchBrand]:
    brands = []
    with LoyaltyClient(base_url, timeout=180) as api:
        operator = api.login(*DEV_ADMIN)
        for n in range(large + small):
            is_large = n < large
            slug = f"b{run}{'l' if is_large else 's'}{n}"
            client = operator.onboard_brand(f"Bench {slug}", slug, f"ops@{slug}.example", key_name="bench")
            client.create_promotion(
                {
                    "name": "1 token per EUR",
                    "rules": [{"key": "rate", "kind": "rate", "currency": "EUR", "per": "1", "tokens": "1"}],
                }
            )
            api_key = client.headers["Authorization"].removeprefix("Bearer ")
            brands.append(BenchBrand(client.id, api_key, is_large))
    return brands
