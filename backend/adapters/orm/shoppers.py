"""Shopper tables: SIWE nonces, shopper profiles, per-brand tier thresholds, offers and redemptions.

A redemption row is created when the shopper asks for the typed data to sign (`prepared`); submitting the
signature moves it to `pending` exactly once (conditional UPDATE), reserves stock and enqueues the relay in the
same transaction; the settle step moves it to `confirmed` (with a counter code) or `failed` (stock released).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, Uint256, UtcDateTime, utcnow

REDEMPTION_STATUSES = ("prepared", "pending", "confirmed", "failed")
HOLDING_STATUSES = ("pending", "confirmed")  # count against stock and the per-wallet limit


class SiweNonce(Base):
    """A single-use sign-in nonce; `used_at` is set by a conditional UPDATE (first verify wins)."""

    __tablename__ = "siwe_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(42), nullable=True)


class Shopper(Base):
    """Off-chain profile of a wallet (created at its first sign-in)."""

    __tablename__ = "shoppers"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)  # checksummed
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    marketing_consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class BrandTierThresholds(Base):
    """A brand's own tier thresholds (whole tokens of lifetime earned, decimal strings); platform defaults else."""

    __tablename__ = "brand_tier_thresholds"

    brand_id: Mapped[int] = mapped_column(Integer, ForeignKey("brands.id"), primary_key=True)
    silver: Mapped[str] = mapped_column(String(40))
    gold: Mapped[str] = mapped_column(String(40))
    platinum: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_brand_id", "brand_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, ForeignKey("brands.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token_address: Mapped[str] = mapped_column(String(42))  # the brand's token (checksummed)
    token_decimals: Mapped[int] = mapped_column(Integer, default=18)
    cost: Mapped[int] = mapped_column(Uint256)  # base units burned per redemption
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    stock_total: Mapped[int] = mapped_column(Integer)
    stock_left: Mapped[int] = mapped_column(Integer)  # only moves by conditional UPDATEs
    per_wallet_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_tier: Mapped[str | None] = mapped_column(String(16), nullable=True)
    min_balance: Mapped[int] = mapped_column(Uint256, default=0)  # base units the wallet must hold besides cost
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        Index("ix_redemptions_wallet_status", "wallet", "status"),
        Index("ix_redemptions_offer_status", "offer_id", "status"),
        Index("ix_redemptions_brand_id", "brand_id"),
    )

    id: Mapped[str] = mapped_column(String(66), primary_key=True)  # the on-chain redemptionId (0x + 32 bytes)
    offer_id: Mapped[int] = mapped_column(Integer, ForeignKey("offers.id"))
    brand_id: Mapped[int] = mapped_column(Integer)
    wallet: Mapped[str] = mapped_column(String(42))  # checksummed holder
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token_address: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(Uint256)
    offer_ref: Mapped[str] = mapped_column(String(66))
    deadline: Mapped[int] = mapped_column(BigInteger)  # unix seconds, signed by the holder
    signature: Mapped[str | None] = mapped_column(String(300), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="prepared")
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    code: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)  # shown at the counter
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
