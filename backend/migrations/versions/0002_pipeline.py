"""Minting pipeline: batch manifests, holder cache, operator alerts.

Revision ID: 0002_pipeline
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from backend.adapters.orm.base import Uint256

revision = "0002_pipeline"
down_revision = "0001_foundation"
branch_labels = ("pipeline",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "batch_id",
            sa.String(66),
            sa.ForeignKey("mint_batches.batch_id", name="fk_batch_items_batch_id_mint_batches"),
            nullable=False,
        ),
        sa.Column(
            "credit_outbox_id",
            sa.BigInteger(),
            sa.ForeignKey("credit_outbox.id", name="fk_batch_items_credit_outbox_id_credit_outbox"),
            nullable=False,
        ),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("amount", Uint256(), nullable=False),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64)),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("leaf", sa.String(66), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_batch_items_batch", "batch_items", ["batch_id", "leaf_index"])
    op.create_index("ix_batch_items_action", "batch_items", ["action_id"])
    op.create_index(
        "uq_batch_items_active_credit",
        "batch_items",
        ["credit_outbox_id"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )
    op.create_table(
        "holder_cache",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("token_address", sa.String(42), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("holder", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "operator_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(66)),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_operator_alerts_open", "operator_alerts", ["resolved", "created_at"])


def downgrade() -> None:
    op.drop_table("operator_alerts")
    op.drop_table("holder_cache")
    op.drop_table("batch_items")
