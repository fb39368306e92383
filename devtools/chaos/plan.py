"""The seeded load: purchases (single and bulk), referrals, refunds, replays, conflicts, bad inputs, QR claims."""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils import to_checksum_address

from loyalty_client import Wallet

Item = tuple[str, dict[str, Any], dict[str, Any]]  # (kind, brand, body)
QR_KINDS = ("qr", "qr_race", "qr_dup", "qr_forged", "qr_malformed", "qr_expired")


@dataclass
class Shopper:
    """A shopper of the run: its own key, the brand it buys from, its redemptions so far."""

    wallet: Wallet
    brand: dict[str, Any]
    redemptions: int = 0

    @property
    def address(self) -> str:
        return self.wallet.address


def make_shoppers(brands: list[dict[str, Any]], count: int, rng: random.Random) -> list[Shopper]:
    return [Shopper(Wallet.from_key(rng.randbytes(32)), brands[i % len(brands)]) for i in range(count)]


def shopper_purchases(shoppers: list[Shopper], run: str) -> list[Item]:
    """One 25 EUR purchase per shopper (25 tokens: enough for two redemptions of 10)."""
    return [
        (
            "action",
            s.brand,
            {
                "idempotency_key": f"c{run}-s{i}",
                "type": "purchase",
                "wallet": s.address,
                "order_id": f"c{run}-so{i}",
                "amount": "25.00",
                "currency": "EUR",
            },
        )
        for i, s in enumerate(shoppers)
    ]


def forge(code: str, rng: random.Random) -> str:
    """A code whose signature cannot verify: a tag byte flipped, or the serial changed without re-signing."""
    blob = bytearray(base64.b32decode(code + "=" * (-len(code) % 8)))
    index = rng.randrange(13, len(blob)) if rng.random() < 0.5 else rng.randrange(5, 9)
    blob[index] ^= 1 << rng.randrange(8)
    return base64.b32encode(bytes(blob)).decode().rstrip("=")


def qr_plan(brands: list[dict[str, Any]], wallets: Sequence[str], rng: random.Random) -> tuple[list[Item], list[Item]]:
    """(first-phase items, later-phase items) of QR claims."""
    first: list[Item] = []
    later: list[Item] = []
    for brand in brands:
        for code in brand["qr_live"]:
            roll = rng.random()
            if roll < 0.1:  # two scanners at the same moment: exactly one of them wins
                first.append(("qr_race", brand, {"code": code, "wallet": rng.choice(wallets)}))
                first.append(("qr_race", brand, {"code": code, "wallet": rng.choice(wallets)}))
                continue
            first.append(("qr", brand, {"code": code, "wallet": rng.choice(wallets)}))
            if roll < 0.25:  # re-scanned later, by the same or another wallet
                later.append(("qr_dup", brand, {"code": code.lower(), "wallet": rng.choice(wallets)}))
            if rng.random() < 0.05:
                first.append(("qr_forged", brand, {"code": forge(code, rng), "wallet": rng.choice(wallets)}))
            if rng.random() < 0.02:
                first.append(("qr_malformed", brand, {"code": code[:-3] + "!!1", "wallet": rng.choice(wallets)}))
        for code in brand["qr_expiring"]:
            later.append(("qr_expired", brand, {"code": code, "wallet": rng.choice(wallets)}))
    return first, later


def build_plan(
    brands: list[dict[str, Any]],
    n_actions: int,
    rng: random.Random,
    run: str,
    shoppers: list[Shopper],
    bulk_share: float,
) -> tuple[list[Item], list[Item]]:
    """(first phase, later phase): replays, conflicts, refunds and late QR scans follow their originals."""
    wallets = [to_checksum_address(rng.randbytes(20).hex()) for _ in range(max(200, n_actions // 2))]
    first: list[Item] = []
    later: list[Item] = []
    purchases: list[tuple[dict[str, Any], dict[str, Any]]] = []
    # NOTE: the side traffic is capped, so a large run stays mostly purchases (most through bulk uploads) and
    # finishes in minutes on 2 cores; the small run keeps the same proportions as before.
    side = min(n_actions // 20, 1_500)
    n_referrals = side
    n_purchases = max(0, n_actions - n_referrals - len(shoppers))
    bulk: dict[int, list[dict[str, Any]]] = {}
    for i in range(n_purchases):
        brand = rng.choice(brands)
        body = {
            "idempotency_key": f"c{run}-{i}",
            "type": "purchase",
            "wallet": rng.choice(wallets),
            "order_id": f"c{run}-o{i}",
            "amount": f"{rng.randint(1, 200)}.{rng.randint(0, 99):02d}",
            "currency": "EUR",
        }
        purchases.append((brand, body))
        if rng.random() < bulk_share:  # a POS uploading its day in chunks
            chunk = bulk.setdefault(brand["id"], [])
            chunk.append(body)
            if len(chunk) == 200:
                first.append(("bulk", brand, {"actions": bulk.pop(brand["id"])}))
        else:
            first.append(("action", brand, body))
    for brand in brands:
        if bulk.get(brand["id"]):
            first.append(("bulk", brand, {"actions": bulk.pop(brand["id"])}))
    for i in range(n_referrals):  # a fresh wallet referred by a known one
        body = {
            "idempotency_key": f"c{run}-ref{i}",
            "type": "referral",
            "wallet": to_checksum_address(rng.randbytes(20).hex()),
            "referrer": rng.choice(wallets),
        }
        first.append(("action", rng.choice(brands), body))
    for i in range(side // 2):  # refunded at once, while the credit is still pending: a reversal
        brand, wallet = rng.choice(brands), rng.choice(wallets)
        purchase = {
            "idempotency_key": f"c{run}-bp{i}",
            "type": "purchase",
            "wallet": wallet,
            "order_id": f"c{run}-bo{i}",
            "amount": f"{rng.randint(2, 90)}.00",
            "currency": "EUR",
        }
        refund = {
            "idempotency_key": f"c{run}-br{i}",
            "type": "refund",
            "wallet": wallet,
            "order_id": purchase["order_id"],
        }
        if i % 2:
            refund["amount"] = "1.00"
        first.append(("buy_refund", brand, {"purchase": purchase, "refund": refund}))
    for _ in range(2 * side):  # replays: same body → same result
        brand, body = rng.choice(purchases)
        later.append(("replay", brand, body))
    for _ in range(side):  # same key, other body → 409
        brand, body = rng.choice(purchases)
        later.append(("conflict", brand, {**body, "amount": "999.99", "order_id": body["order_id"] + "-x"}))
    for i, (brand, body) in enumerate(rng.sample(purchases, min(len(purchases), side))):
        refund = {"idempotency_key": f"c{run}-rf{i}", "type": "refund", "wallet": body["wallet"]}
        refund["order_id"] = body["order_id"]
        half = (Decimal(body["amount"]) / 2).quantize(Decimal("0.01"))
        if i % 2 and half > 0:  # partial refund; the others refund what is left
            refund["amount"] = str(half)
        later.append(("refund", brand, refund))
    w0 = wallets[0]
    bad_bodies: list[dict[str, Any]] = [
        {"type": "purchase"},
        {"idempotency_key": "k", "type": "purchase", "wallet": "0xnotanaddress", "amount": "1", "currency": "EUR"},
        {"idempotency_key": "k0", "type": "purchase", "wallet": "0x" + "0" * 40, "amount": "1", "currency": "EUR"},
        {"idempotency_key": "k1", "type": "purchase", "wallet": w0, "amount": "-5", "currency": "EUR"},
        {"idempotency_key": "k2", "type": "teleport", "wallet": w0},
        {"idempotency_key": "k3", "type": "purchase", "wallet": w0, "amount": "1e999", "currency": "EURO"},
        {"idempotency_key": "x" * 5000, "type": "purchase", "wallet": w0, "amount": "1", "currency": "EUR"},
        {"idempotency_key": "k4", "type": "purchase", "wallet": w0, "amount": "1", "currency": "EUR", "x": 1},
        {"idempotency_key": "k5", "type": "referral", "wallet": w0, "referrer": w0},
        {"idempotency_key": "k6", "type": "refund", "wallet": w0, "order_id": f"c{run}-no-such-order"},
        {"idempotency_key": "k7", "type": "refund", "wallet": w0, "order_id": "x", "amount": "0"},
    ]
    for i in range(side):
        first.append(("bad", rng.choice(brands), {**rng.choice(bad_bodies), "_i": i}))
    qr_first, qr_later = qr_plan(brands, wallets, rng)
    first += qr_first
    later += qr_later
    rng.shuffle(first)
    rng.shuffle(later)
    return shopper_purchases(shoppers, run) + first, later
