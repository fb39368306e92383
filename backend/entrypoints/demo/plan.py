"""The event's shoppers and their actions: purchases across the brands, referrals; wallets repeat like real ones."""

from __future__ import annotations

import random
import secrets
from typing import Any

from eth_utils import to_checksum_address


def new_wallet() -> str:
    return str(to_checksum_address(secrets.token_bytes(20)))


def purchase(run: str, wallet: str, amount: str) -> dict[str, Any]:
    key = f"ord-{run}-{secrets.token_hex(5)}"
    return {
        "idempotency_key": key,
        "type": "purchase",
        "wallet": wallet,
        "order_id": key,
        "amount": amount,
        "currency": "USD",
        "customer_id": f"cust-{wallet[2:8]}",
    }


def action_plan(rng: random.Random, run: str, actions: int, redeemer: str) -> list[tuple[str, dict[str, Any]]]:
    """(brand letter, action) pairs: purchases, referrals, one refund; wallets repeat like real shoppers."""
    # NOTE: loyalty shoppers come back: ~8 actions each across the brands, like a week-long event.
    shoppers = [new_wallet() for _ in range(max(20, actions // 8))]
    plan: list[tuple[str, dict[str, Any]]] = [
        ("a", purchase(run, redeemer, "100.00")),  # the shopper who redeems later
    ]
    referrals = max(2, actions // 25)
    for i in range(referrals):
        brand = "ab"[i % 2]
        plan.append(
            (
                brand,
                {
                    "idempotency_key": f"ref-{run}-{i}",
                    "type": "referral",
                    "wallet": new_wallet(),
                    "referrer": rng.choice(shoppers),
                },
            )
        )
    while len(plan) < actions - 1:
        brand = rng.choices("abc", weights=(5, 3, 2))[0]
        amount = f"{rng.randint(3, 150)}.{rng.randint(0, 99):02d}"
        plan.append((brand, purchase(run, rng.choice(shoppers), amount)))
    rng.shuffle(plan)
    return plan
