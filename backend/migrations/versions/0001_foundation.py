"""Foundation: contract deployments per chain, the credit outbox and mint batches.

Revision ID: 0001_foundation
Revises:
"""

import sqlalchemy as sa
from alembic import op

from backend.adapters.orm.base import Uint256

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("chain_id", "name", name="uq_deployments_chain_id_name"),
    )

    op.create_table(
        "mint_batches",
        sa.Column("batch_id", sa.String(66), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("manifest_root", sa.String(66), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("total", Uint256(), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("wallet", sa.String(42)),
        sa.Column("nonce", sa.BigInteger()),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("block_number", sa.BigInteger()),
        sa.Column("block_hash", sa.String(66)),
        sa.Column("gas_used", sa.BigInteger()),
        sa.Column("fee_paid_wei", Uint256()),
        sa.Column("reason", sa.String(300)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_mint_batches_state", "mint_batches", ["state"])
    op.create_table(
        "credit_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("amount", Uint256(), nullable=False),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("ledger_entry_id", sa.BigInteger()),
        sa.Column("rule_id", sa.String(64)),
        sa.Column("brand_id", sa.Integer()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column(
            "batch_id",
            sa.String(66),
            sa.ForeignKey("mint_batches.batch_id", name="fk_credit_outbox_batch_id_mint_batches"),
        ),
        sa.Column("reason", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_credit_outbox_state_token", "credit_outbox", ["state", "chain_id", "token_address"])
    op.create_index("ix_credit_outbox_wallet", "credit_outbox", ["wallet"])
    op.create_index("ix_credit_outbox_action", "credit_outbox", ["action_id"])
    op.create_index("ix_credit_outbox_batch", "credit_outbox", ["batch_id"])


def downgrade() -> None:
    op.drop_table("credit_outbox")
    op.drop_table("mint_batches")
    op.drop_table("deployments")
