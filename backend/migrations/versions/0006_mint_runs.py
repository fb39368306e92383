"""Shared runs: small brands' batches minted together through the `LoyaltyMinter` (`mint_runs`, and the run a
batch belongs to in `mint_batches.run_ref`).

Revision ID: 0006_mint_runs
Revises: 0005_reorg_watch
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_mint_runs"
down_revision = "0005_reorg_watch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mint_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("minter_address", sa.String(42), nullable=False),
        sa.Column("run_root", sa.String(66), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", name="uq_mint_runs_run_id"),
    )
    op.add_column("mint_batches", sa.Column("run_ref", sa.String(32), nullable=True))
    op.create_index("ix_mint_batches_run", "mint_batches", ["run_ref"])


def downgrade() -> None:
    op.drop_index("ix_mint_batches_run", table_name="mint_batches")
    with op.batch_alter_table("mint_batches") as batch:
        batch.drop_column("run_ref")
    op.drop_table("mint_runs")
