"""QR codes: campaigns (codes are derived from them) and claims, unique per (campaign, serial).

Revision ID: 0002_qr
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from backend.adapters.orm.base import Uint256

revision = "0002_qr"
down_revision = "0001_foundation"
branch_labels = ("qr",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qr_campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("promotion_id", sa.Integer()),
        sa.Column("reward_amount", Uint256()),
        sa.Column("token_address", sa.String(42)),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_claims", sa.Integer()),
        sa.Column("code_count", sa.Integer(), nullable=False),
        sa.Column("claims_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_qr_campaigns_brand_id", "qr_campaigns", ["brand_id"])
    op.create_table(
        "qr_claims",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("qr_campaigns.id", name="fk_qr_claims_campaign_id_qr_campaigns"),
            nullable=False,
        ),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("action_id", sa.String(32)),
        sa.Column("amount", Uint256()),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("campaign_id", "serial", name="uq_qr_claims_campaign_id_serial"),
    )
    op.create_index("ix_qr_claims_wallet", "qr_claims", ["wallet"])


def downgrade() -> None:
    op.drop_table("qr_claims")
    op.drop_table("qr_campaigns")
