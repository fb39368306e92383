"""QR campaigns and their claims. Codes themselves are derived (signed on demand), never stored.

`qr_claims` has a unique (campaign_id, serial): the database, not Redis, decides which claim of a code wins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, Uint256, UtcDateTime, utcnow

CAMPAIGN_STATES = ("active", "paused", "ended")


class QrCampaign(Base):
    __tablename__ = "qr_campaigns"
    __table_args__ = (Index("ix_qr_campaigns_brand_id", "brand_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NOTE: no foreign key to `brands` so the QR migration branch stays independent of earning's.
    brand_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    promotion_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the promotion's rules price a claim
    reward_amount: Mapped[int | None] = mapped_column(Uint256, nullable=True)  # or a fixed reward, base units
    token_address: Mapped[str | None] = mapped_column(String(42), nullable=True)  # fixed reward: which token
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())  # also every code's signed expiry
    max_claims: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None = one per code
    code_count: Mapped[int] = mapped_column(Integer, default=0)  # codes are serials 1..code_count
    claims_count: Mapped[int] = mapped_column(Integer, default=0)  # grows only by a conditional UPDATE
    state: Mapped[str] = mapped_column(String(16), default="active")
    key_id: Mapped[int] = mapped_column(Integer)  # the signing key its codes carry
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class QrClaim(Base):
    __tablename__ = "qr_claims"
    __table_args__ = (
        UniqueConstraint("campaign_id", "serial"),
        Index("ix_qr_claims_wallet", "wallet"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, ForeignKey("qr_campaigns.id"))
    serial: Mapped[int] = mapped_column(BigInteger)  # the code's nonce within its campaign
    wallet: Mapped[str] = mapped_column(String(42))  # checksummed
    action_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # public id of the credited action
    amount: Mapped[int | None] = mapped_column(Uint256, nullable=True)  # credited, base units
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
