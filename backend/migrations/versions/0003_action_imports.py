"""Bulk action imports: accepted requests and their inbox of actions, recorded later by workers.

Revision ID: 0003_action_imports
Revises: 0002_earning
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_action_imports"
down_revision = "0002_earning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("replayed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("public_id", name="uq_action_imports_public_id"),
    )
    op.create_index("ix_action_imports_brand_state", "action_imports", ["brand_id", "state", "id"])
    op.create_table(
        "action_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16)),
        sa.Column("action_id", sa.String(32)),
        sa.Column("problem", sa.JSON()),
        sa.UniqueConstraint("import_id", "position", name="uq_action_inbox_import_id_position"),
    )


def downgrade() -> None:
    op.drop_table("action_inbox")
    op.drop_table("action_imports")
