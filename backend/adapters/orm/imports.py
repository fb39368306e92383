"""Bulk action imports: a request's actions land in an inbox at once (202) and workers record them in order.

`action_imports` is one accepted bulk request and its progress; `action_inbox` holds its actions (JSON, validated
at the boundary) and, once recorded, each one's outcome: the recorded action (whose stored result is the answer)
or the problem, so the results URL can list every result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, UtcDateTime, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER primary keys


class ActionImport(Base):
    __tablename__ = "action_imports"
    __table_args__ = (Index("ix_action_imports_brand_state", "brand_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # accepted → done
    total: Mapped[int] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    replayed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ActionInboxItem(Base):
    """One action of an import; `status` is None until recorded, then created / replayed / error."""

    __tablename__ = "action_inbox"
    __table_args__ = (UniqueConstraint("import_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # the validated action as JSON
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # created / replayed: `actions.public_id`
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # error: the problem document
