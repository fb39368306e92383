"""GDPR requests: the audit trail of exports and erasures (subjects kept only as hashes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, UtcDateTime, utcnow


class GdprRequest(Base):
    """Who exported or erased whose data; the subject is kept only as a sha256, never in clear."""

    __tablename__ = "gdpr_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # export | erase
    subject_hash: Mapped[str] = mapped_column(String(64))
    brand_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(254))
    summary: Mapped[str] = mapped_column(Text)  # JSON counts of what was touched
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
