"""Reorg watch: how often a final intent was re-opened because a deep reorg removed its block, and when.

Revision ID: 0005_reorg_watch
Revises: 0004_one_line
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_reorg_watch"
down_revision = "0004_one_line"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("relay_intents", sa.Column("reorgs", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("relay_intents", sa.Column("reorged_at", sa.DateTime(timezone=True)))
    op.create_index("ix_relay_intents_block", "relay_intents", ["chain_id", "block_number"])


def downgrade() -> None:
    op.drop_index("ix_relay_intents_block", table_name="relay_intents")
    with op.batch_alter_table("relay_intents") as batch:
        batch.drop_column("reorged_at")
        batch.drop_column("reorgs")
