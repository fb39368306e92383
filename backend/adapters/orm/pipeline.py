"""Minting pipeline tables: batch manifests (`batch_items`), holder knowledge (`holder_cache`), operator alerts.

`batch_items` holds one row per credited action of a batch (the manifest): a credit is in at most one *active*
batch (partial unique index), and goes inactive when its batch failed and the credit went back to `pending`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, Uint256, UtcDateTime, utcnow

_ACTIVE = text("active")


class BatchItem(Base):
    __tablename__ = "batch_items"
    __table_args__ = (
        Index("ix_batch_items_batch", "batch_id", "leaf_index"),
        Index("ix_batch_items_action", "action_id"),
        Index(
            "uq_batch_items_active_credit",
            "credit_outbox_id",
            unique=True,
            postgresql_where=_ACTIVE,
            sqlite_where=_ACTIVE,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(66), ForeignKey("mint_batches.batch_id"))
    credit_outbox_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("credit_outbox.id"))
    wallet: Mapped[str] = mapped_column(String(42))  # checksummed
    amount: Mapped[int] = mapped_column(Uint256)
    action_id: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    leaf_index: Mapped[int] = mapped_column(Integer)  # position in the manifest (order of the entries)
    leaf: Mapped[str] = mapped_column(String(66))  # 0x-hex Merkle leaf (backend.domain.manifest)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class HolderCache(Base):
    """Wallets known to hold a token (a batch to them confirmed, or a balance seen): priced as existing holders."""

    __tablename__ = "holder_cache"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    token_address: Mapped[str] = mapped_column(String(42), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    holder: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class OperatorAlert(Base):
    __tablename__ = "operator_alerts"
    __table_args__ = (Index("ix_operator_alerts_open", "resolved", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))  # e.g. batch-failed, manifest-mismatch
    severity: Mapped[str] = mapped_column(String(16))  # warning | critical
    batch_id: Mapped[str | None] = mapped_column(String(66), nullable=True)
    message: Mapped[str] = mapped_column(String(500))
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
