"""Earning tables: operators, brands, API keys, consents, promotions, actions, the ledger and balances.

`ledger_entries` is append-only (never updated or deleted); `wallet_balances` and `brand_wallets` are
denormalized views of it, written in the same transaction. `loyalty ledger check` recomputes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, Uint256, UtcDateTime, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER primary keys


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token_address: Mapped[str] = mapped_column(String(42))  # checksummed
    token_symbol: Mapped[str] = mapped_column(String(16))
    token_decimals: Mapped[int] = mapped_column(Integer, default=18)
    is_coalition: Mapped[bool] = mapped_column(Boolean, default=False)  # pays in the coalition token
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class OperatorUser(Base):
    __tablename__ = "operator_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    role: Mapped[str] = mapped_column(String(20))  # admin | brand_manager | auditor | viewer
    brand_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("brands.id"), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_brand_id", "brand_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, ForeignKey("brands.id"))
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the secret part
    scopes: Mapped[str] = mapped_column(String(300))  # space-separated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    replaced_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BrandConsent(Base):
    """The owner of `token_address` lets `grantee_brand_id`'s promotions pay in it."""

    __tablename__ = "brand_consents"
    __table_args__ = (UniqueConstraint("token_address", "grantee_brand_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_address: Mapped[str] = mapped_column(String(42))
    grantee_brand_id: Mapped[int] = mapped_column(Integer, ForeignKey("brands.id"))
    granted_by_brand_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None = platform (coalition)
    granted_by: Mapped[str] = mapped_column(String(254))  # principal subject, for the audit trail
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Promotion(Base):
    __tablename__ = "promotions"
    __table_args__ = (Index("ix_promotions_brand_id", "brand_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, ForeignKey("brands.id"))
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    budget: Mapped[int | None] = mapped_column(Uint256, nullable=True)  # base units; None = unlimited
    spent: Mapped[int] = mapped_column(Uint256, default=0)  # only ever grows by a conditional UPDATE
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class PromotionVersion(Base):
    """An immutable version of a promotion's rules; credits record the version that produced them."""

    __tablename__ = "promotion_versions"
    __table_args__ = (UniqueConstraint("promotion_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    promotion_id: Mapped[int] = mapped_column(Integer, ForeignKey("promotions.id"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # validated `PromotionSpec` as JSON
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token_address: Mapped[str] = mapped_column(String(42))  # token the promotion pays in
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Action(Base):
    """One accepted action; `result` is the response body replayed for a repeated idempotency key."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("brand_id", "idempotency_key"),
        UniqueConstraint("brand_id", "purchase_order_id"),
        Index("ix_actions_brand_order", "brand_id", "order_id"),
        Index("ix_actions_wallet", "wallet"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    body_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical body
    type: Mapped[str] = mapped_column(String(16))
    wallet: Mapped[str] = mapped_column(String(42))
    customer_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    purchase_order_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # set on purchases only
    amount: Mapped[str | None] = mapped_column(String(48), nullable=True)  # decimal string
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    refunded_amount: Mapped[str | None] = mapped_column(String(48), nullable=True)  # purchases: sum refunded
    referrer: Mapped[str | None] = mapped_column(String(42), nullable=True)
    promotion_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    custom_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LedgerEntry(Base):
    """Append-only: credit | reversal | debt | debt_offset, in token base units, with its reason."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_wallet_token", "wallet", "token_address"),
        Index("ix_ledger_entries_action_id", "action_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    action_id: Mapped[str] = mapped_column(String(32))  # public id of the action that caused it
    kind: Mapped[str] = mapped_column(String(16))
    wallet: Mapped[str] = mapped_column(String(42))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token_address: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(Uint256)
    promotion_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    promotion_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ref_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # credit a reversal/debt undoes
    outbox_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WalletBalance(Base):
    """Per (wallet, token): `credited` = sent to the outbox net of offsets and reversals (pending or minted)."""

    __tablename__ = "wallet_balances"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_address: Mapped[str] = mapped_column(String(42), primary_key=True)
    credited: Mapped[int] = mapped_column(Uint256, default=0)
    reversed: Mapped[int] = mapped_column(Uint256, default=0)
    debt: Mapped[int] = mapped_column(Uint256, default=0)  # outstanding: nets against future credit
    lifetime_earned: Mapped[int] = mapped_column(Uint256, default=0)  # gross credits, never decreases
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class BrandWallet(Base):
    """What a brand's rules need to know about a wallet: lifetime earned (tiers), first purchase, referral."""

    __tablename__ = "brand_wallets"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    lifetime_earned: Mapped[int] = mapped_column(Uint256, default=0)
    first_purchase_action_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    referred_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PromotionUsage(Base):
    """Credit a wallet received from a promotion, per UTC day (`YYYY-MM-DD`) and in total (`total`)."""

    __tablename__ = "promotion_usage"

    promotion_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    amount: Mapped[int] = mapped_column(Uint256, default=0)
