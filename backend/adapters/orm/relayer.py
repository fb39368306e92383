"""Relayer tables: what to send (`relay_intents`), every signed transaction for it (`relay_attempts`), and the
nonce counter of each hot wallet (`hot_wallet_state`).

An intent is one logical transaction (idempotent on `(purpose, ref)`); its attempts all share one nonce
(original, fee replacements, cancellation) and whichever of them mines decides the outcome. The raw signed bytes
are committed before they are broadcast, so a resend after a crash is byte-identical.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, Uint256, UtcDateTime, utcnow

INTENT_STATES = ("queued", "submitted", "included", "confirmed", "failed")
OPEN_STATES = ("submitted", "included")  # holds a nonce that is not final yet
TERMINAL_STATES = ("confirmed", "failed")
ATTEMPT_KINDS = ("original", "replacement", "cancel", "filler")
# signed: committed, not (known to be) broadcast; sent: handed to a node (or timed out: may have landed);
# rejected: the node refused it (see `error`); dead: its nonce went to a transaction that is not ours.
ATTEMPT_STATUSES = ("signed", "sent", "rejected", "dead")
FILLER_PURPOSE = "nonce-filler"


class RelayIntent(Base):
    __tablename__ = "relay_intents"
    __table_args__ = (
        UniqueConstraint("purpose", "ref"),
        Index("ix_relay_intents_state", "chain_id", "state"),
        Index("ix_relay_intents_wallet_nonce", "chain_id", "wallet", "nonce"),
        Index("ix_relay_intents_unsettled", "purpose", "state", "settled"),
        Index("ix_relay_intents_block", "chain_id", "block_number"),  # the reorg watch looks back by height
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))  # e.g. batch-mint, redemption, nonce-filler
    ref: Mapped[str] = mapped_column(String(128))  # the consumer's id (batch id, redemption id)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    to_address: Mapped[str] = mapped_column(String(42))  # checksummed
    data: Mapped[str] = mapped_column(Text, default="0x")  # 0x-hex calldata
    value_wei: Mapped[int] = mapped_column(Uint256, default=0)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    wallet: Mapped[str | None] = mapped_column(String(42), nullable=True)  # hot wallet that signs it
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)  # mined hash, else the latest attempt
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    effective_gas_price: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    fee_paid_wei: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)  # decoded revert, or why given up
    waiting_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)  # e.g. "fees above cap: ..."
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)  # set by the consumer after acting on it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    included_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # a deep reorg removed its block after it was final: re-opened this many times, the last one at `reorged_at`
    reorgs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reorged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    def __repr__(self) -> str:
        return f"RelayIntent({self.purpose}:{self.ref} {self.state} nonce={self.nonce} tx={self.tx_hash})"


class RelayAttempt(Base):
    __tablename__ = "relay_attempts"
    __table_args__ = (
        UniqueConstraint("tx_hash"),
        Index("ix_relay_attempts_intent", "intent_id"),
        Index("ix_relay_attempts_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    intent_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("relay_intents.id"))
    kind: Mapped[str] = mapped_column(String(16))  # original | replacement | cancel | filler
    wallet: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    raw_tx: Mapped[str] = mapped_column(Text)  # 0x-hex signed bytes, rebroadcast as they are
    max_fee_per_gas: Mapped[int] = mapped_column(Uint256)  # gasPrice for legacy transactions
    max_priority_fee_per_gas: Mapped[int | None] = mapped_column(Uint256, nullable=True)  # None: legacy
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="signed")
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)  # last broadcast error
    sent_at_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # head when last broadcast
    broadcasts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class HotWalletState(Base):
    __tablename__ = "hot_wallet_state"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)  # the nonce the next signed transaction gets
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
