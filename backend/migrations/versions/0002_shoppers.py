"""Shoppers: SIWE nonces, profiles, brand tier thresholds, offers and redemptions.

Revision ID: 0002_shoppers
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from backend.adapters.orm.base import Uint256

revision = "0002_shoppers"
down_revision = "0001_foundation"
branch_labels = ("shoppers",)
depends_on = ("0002_earning",)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "siwe_nonces",
        sa.Column("nonce", sa.String(64), primary_key=True),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.Column("used_by", sa.String(42)),
    )
    op.create_index("ix_siwe_nonces_expires_at", "siwe_nonces", ["expires_at"])
    op.create_table(
        "shoppers",
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("email", sa.String(254)),
        sa.Column("preferences", sa.JSON(), nullable=False),
        sa.Column("marketing_consent", sa.Boolean(), nullable=False),
        _ts("marketing_consent_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("last_sign_in_at", nullable=True),
    )
    op.create_table(
        "brand_tier_thresholds",
        sa.Column(
            "brand_id",
            sa.Integer(),
            sa.ForeignKey("brands.id", name="fk_brand_tier_thresholds_brand_id_brands"),
            primary_key=True,
        ),
        sa.Column("silver", sa.String(40), nullable=False),
        sa.Column("gold", sa.String(40), nullable=False),
        sa.Column("platinum", sa.String(40), nullable=False),
        _ts("updated_at"),
    )
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "brand_id", sa.Integer(), sa.ForeignKey("brands.id", name="fk_offers_brand_id_brands"), nullable=False
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column("token_decimals", sa.Integer(), nullable=False),
        sa.Column("cost", Uint256(), nullable=False),
        _ts("starts_at", nullable=True),
        _ts("ends_at", nullable=True),
        sa.Column("stock_total", sa.Integer(), nullable=False),
        sa.Column("stock_left", sa.Integer(), nullable=False),
        sa.Column("per_wallet_limit", sa.Integer()),
        sa.Column("min_tier", sa.String(16)),
        sa.Column("min_balance", Uint256(), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_offers_brand_id", "offers", ["brand_id"])
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(66), primary_key=True),
        sa.Column(
            "offer_id", sa.Integer(), sa.ForeignKey("offers.id", name="fk_redemptions_offer_id_offers"), nullable=False
        ),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column("amount", Uint256(), nullable=False),
        sa.Column("offer_ref", sa.String(66), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(300)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("code", sa.String(16)),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("block_number", sa.BigInteger()),
        _ts("created_at"),
        _ts("submitted_at", nullable=True),
        _ts("settled_at", nullable=True),
        _ts("updated_at"),
        sa.UniqueConstraint("code", name="uq_redemptions_code"),
    )
    op.create_index("ix_redemptions_wallet_status", "redemptions", ["wallet", "status"])
    op.create_index("ix_redemptions_offer_status", "redemptions", ["offer_id", "status"])
    op.create_index("ix_redemptions_brand_id", "redemptions", ["brand_id"])


def downgrade() -> None:
    op.drop_table("redemptions")
    op.drop_table("offers")
    op.drop_table("brand_tier_thresholds")
    op.drop_table("shoppers")
    op.drop_table("siwe_nonces")
