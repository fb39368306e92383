"""The contract between earning and minting: the credit outbox, and the batches that drain it.

Earning inserts `credit_outbox` rows (state `pending`) in the same transaction as the ledger credit. The minting
pipeline moves them `pending → batched → minted` (or back to `pending` with a reason) with compare-and-set
updates; a credit no `batchMint` could carry (amount beyond 2^96-1, malformed row) goes `pending → held` with the
reason and an operator alert, and stays there. A refund cancels a row only while it is still `pending` or `held`
(`→ cancelled`).

Around the batches: their manifests (`batch_items`, one row per credited action; a credit is in at most one
*active* batch by a partial unique index, and goes inactive when its batch failed and the credit went back to
`pending`), holder knowledge (`holder_cache`) and operator alerts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, Uint256, UtcDateTime, utcnow

CREDIT_STATES = ("pending", "batched", "minted", "cancelled", "held")
BATCH_STATES = ("built", "signed", "submitted", "included", "confirmed", "failed")


class CreditOutbox(Base):
    __tablename__ = "credit_outbox"
    __table_args__ = (
        Index("ix_credit_outbox_state_token", "state", "chain_id", "token_address"),
        Index("ix_credit_outbox_wallet", "wallet"),
        Index("ix_credit_outbox_action", "action_id"),
        Index("ix_credit_outbox_batch", "batch_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token_address: Mapped[str] = mapped_column(String(42))  # checksummed
    wallet: Mapped[str] = mapped_column(String(42))  # checksummed
    amount: Mapped[int] = mapped_column(Uint256)  # token base units, > 0
    action_id: Mapped[str] = mapped_column(String(64))  # public id of the action that earned it
    ledger_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    brand_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    batch_id: Mapped[str | None] = mapped_column(String(66), ForeignKey("mint_batches.batch_id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # why it waits (shopper view)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class MintRun(Base):
    """Small brands' batches minted together through the shared `LoyaltyMinter` (one transaction, one run id).

    NOTE: the minter guards runs with one bit each, 256 per storage word, so run ids are sequential; the first
    one of a database starts at a random multiple of 256 (below 2^48), so two databases on one chain (a restored
    backup, test suites sharing a chain) do not reuse each other's ids. Settlement still checks the logged run root
    before it believes a run id that is already used."""

    __tablename__ = "mint_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # the minter's run id
    chain_id: Mapped[int] = mapped_column(BigInteger)
    minter_address: Mapped[str] = mapped_column(String(42))
    run_root: Mapped[str] = mapped_column(String(66))  # Merkle root over (token, batchId, manifestRoot)
    batches: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    @property
    def ref(self) -> str:
        return run_ref(self.run_id)


def run_ref(run_id: int) -> str:
    """The relay intent ref (purpose `mint_run`) of a run."""
    return f"run-{run_id}"


def run_id_of(ref: str) -> int:
    return int(ref.removeprefix("run-"))


class MintBatch(Base):
    __tablename__ = "mint_batches"
    __table_args__ = (Index("ix_mint_batches_state", "state"), Index("ix_mint_batches_run", "run_ref"))

    batch_id: Mapped[str] = mapped_column(String(66), primary_key=True)  # 0x-hex bytes32, also on chain
    chain_id: Mapped[int] = mapped_column(BigInteger)
    token_address: Mapped[str] = mapped_column(String(42))
    state: Mapped[str] = mapped_column(String(16), default="built")
    manifest_root: Mapped[str] = mapped_column(String(66))
    recipients: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Uint256)
    actions: Mapped[int] = mapped_column(Integer, default=0)
    wallet: Mapped[str | None] = mapped_column(String(42), nullable=True)  # hot wallet that signs it
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)  # the hash that was mined
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fee_paid_wei: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    run_ref: Mapped[str | None] = mapped_column(String(32), nullable=True)  # its shared run's intent ref, if any


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
