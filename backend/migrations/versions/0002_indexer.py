"""Indexer: the chain mirror (blocks window, tokens, transfers, batch mints, redemptions, balances, daily stats).

Revision ID: 0002_indexer
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from backend.adapters.orm.base import Uint256

revision = "0002_indexer"
down_revision = "0001_foundation"
branch_labels = ("indexer",)
depends_on = None


def _event_columns() -> list[sa.Column]:
    return [
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column("log_index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "idx_cursor",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "idx_blocks",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("number", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("parent_hash", sa.String(66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "idx_tokens",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("brand_id", sa.String(66), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("cap", Uint256(), nullable=False),
        sa.Column("admin", sa.String(42), nullable=False),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("created_tx", sa.String(66), nullable=False),
    )
    op.create_table(
        "idx_transfers",
        *_event_columns(),
        sa.Column("from_addr", sa.String(42), nullable=False),
        sa.Column("to_addr", sa.String(42), nullable=False),
        sa.Column("value", Uint256(), nullable=False),
    )
    op.create_index("ix_idx_transfers_block", "idx_transfers", ["chain_id", "block_number"])
    op.create_index("ix_idx_transfers_token_time", "idx_transfers", ["chain_id", "token", "block_time"])
    op.create_table(
        "idx_batch_mints",
        *_event_columns(),
        sa.Column("batch_id", sa.String(66), nullable=False),
        sa.Column("manifest_root", sa.String(66), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("total", Uint256(), nullable=False),
    )
    op.create_index("ix_idx_batch_mints_block", "idx_batch_mints", ["chain_id", "block_number"])
    op.create_index("ix_idx_batch_mints_batch", "idx_batch_mints", ["batch_id"])
    op.create_table(
        "idx_redemptions",
        *_event_columns(),
        sa.Column("holder", sa.String(42), nullable=False),
        sa.Column("amount", Uint256(), nullable=False),
        sa.Column("redemption_id", sa.String(66), nullable=False),
        sa.Column("offer_ref", sa.String(66), nullable=False),
    )
    op.create_index("ix_idx_redemptions_block", "idx_redemptions", ["chain_id", "block_number"])
    op.create_index("ix_idx_redemptions_token_holder", "idx_redemptions", ["chain_id", "token", "holder"])
    op.create_table(
        "idx_balances",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(42), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("balance", Uint256(), nullable=False),
        sa.Column("earned", Uint256(), nullable=False),
        sa.Column("redeemed", Uint256(), nullable=False),
    )
    op.create_index("ix_idx_balances_wallet", "idx_balances", ["chain_id", "wallet"])
    op.create_index("ix_idx_balances_token_earned", "idx_balances", ["chain_id", "token", "earned"])
    op.create_table(
        "idx_daily_token_stats",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(42), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("minted", Uint256(), nullable=False),
        sa.Column("burned", Uint256(), nullable=False),
        sa.Column("redeemed", Uint256(), nullable=False),
        sa.Column("transfers", sa.BigInteger(), nullable=False),
        sa.Column("active_wallets", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "idx_daily_wallets",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(42), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
    )


def downgrade() -> None:
    for table in (
        "idx_daily_wallets",
        "idx_daily_token_stats",
        "idx_balances",
        "idx_redemptions",
        "idx_batch_mints",
        "idx_transfers",
        "idx_tokens",
        "idx_blocks",
        "idx_cursor",
    ):
        op.drop_table(table)
