"""The chain mirror written by the indexer (`indexer/`): blocks, tokens, events, balances, daily stats, cursor.

Addresses and hashes are lowercase 0x-hex (the indexer never pays for checksums on the hot path; the API
checksums on the way out). Amounts are `Uint256`. `idx_blocks` holds only the unfinalized window.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.adapters.orm.base import Base, Uint256, UtcDateTime, utcnow


class IdxCursor(Base):
    """Last block fully mirrored per chain; committed in the same transaction as the rows it covers."""

    __tablename__ = "idx_cursor"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class IdxBlock(Base):
    __tablename__ = "idx_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class IdxToken(Base):
    __tablename__ = "idx_tokens"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    brand_id: Mapped[str] = mapped_column(String(66))  # keccak256(slug) as on chain
    name: Mapped[str] = mapped_column(String(200))
    symbol: Mapped[str] = mapped_column(String(64))
    decimals: Mapped[int] = mapped_column(Integer)
    cap: Mapped[int] = mapped_column(Uint256)
    admin: Mapped[str] = mapped_column(String(42))
    created_block: Mapped[int] = mapped_column(BigInteger)
    created_tx: Mapped[str] = mapped_column(String(66))


class IdxTransfer(Base):
    __tablename__ = "idx_transfers"
    __table_args__ = (
        Index("ix_idx_transfers_block", "chain_id", "block_number"),
        Index("ix_idx_transfers_token_time", "chain_id", "token", "block_time"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)  # unix seconds, UTC
    from_addr: Mapped[str] = mapped_column(String(42))
    to_addr: Mapped[str] = mapped_column(String(42))
    value: Mapped[int] = mapped_column(Uint256)


class IdxBatchMint(Base):
    __tablename__ = "idx_batch_mints"
    __table_args__ = (
        Index("ix_idx_batch_mints_block", "chain_id", "block_number"),
        Index("ix_idx_batch_mints_batch", "batch_id"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[str] = mapped_column(String(66))
    manifest_root: Mapped[str] = mapped_column(String(66))
    recipients: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Uint256)


class IdxRedemption(Base):
    __tablename__ = "idx_redemptions"
    __table_args__ = (
        Index("ix_idx_redemptions_block", "chain_id", "block_number"),
        Index("ix_idx_redemptions_token_holder", "chain_id", "token", "holder"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(Uint256)
    redemption_id: Mapped[str] = mapped_column(String(66))
    offer_ref: Mapped[str] = mapped_column(String(66))


class IdxBalance(Base):
    """Balance per token and wallet, plus lifetime `earned` (minted to it) and `redeemed` (leaderboard, flows)."""

    __tablename__ = "idx_balances"
    __table_args__ = (
        Index("ix_idx_balances_wallet", "chain_id", "wallet"),
        Index("ix_idx_balances_token_earned", "chain_id", "token", "earned"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(42), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    balance: Mapped[int] = mapped_column(Uint256)
    earned: Mapped[int] = mapped_column(Uint256)
    redeemed: Mapped[int] = mapped_column(Uint256)


class IdxDailyTokenStats(Base):
    __tablename__ = "idx_daily_token_stats"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(42), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    minted: Mapped[int] = mapped_column(Uint256)
    burned: Mapped[int] = mapped_column(Uint256)  # includes redemption burns
    redeemed: Mapped[int] = mapped_column(Uint256)
    transfers: Mapped[int] = mapped_column(BigInteger)  # Transfer events (mints and burns included)
    active_wallets: Mapped[int] = mapped_column(BigInteger)  # distinct non-zero senders/receivers that day


class IdxDailyWallet(Base):
    """Which wallets were active per token and day: makes `active_wallets` exact under incremental writes."""

    __tablename__ = "idx_daily_wallets"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(42), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
