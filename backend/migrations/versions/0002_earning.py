"""Earning: operators, brands, API keys, consents, promotions, actions, ledger, balances.

Revision ID: 0002_earning
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from backend.adapters.orm.base import Uint256

revision = "0002_earning"
down_revision = "0001_foundation"
branch_labels = ("earning",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column("token_symbol", sa.String(16), nullable=False),
        sa.Column("token_decimals", sa.Integer(), nullable=False),
        sa.Column("is_coalition", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("slug", name="uq_brands_slug"),
    )
    op.create_table(
        "operator_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("brand_id", sa.Integer(), sa.ForeignKey("brands.id", name="fk_operator_users_brand_id_brands")),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("email", name="uq_operator_users_email"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "brand_id",
            sa.Integer(),
            sa.ForeignKey("brands.id", name="fk_api_keys_brand_id_brands"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(300), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", True),
        _ts("last_used_at", True),
        sa.Column("replaced_by_id", sa.Integer()),
    )
    op.create_index("ix_api_keys_brand_id", "api_keys", ["brand_id"])
    op.create_table(
        "brand_consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column(
            "grantee_brand_id",
            sa.Integer(),
            sa.ForeignKey("brands.id", name="fk_brand_consents_grantee_brand_id_brands"),
            nullable=False,
        ),
        sa.Column("granted_by_brand_id", sa.Integer()),
        sa.Column("granted_by", sa.String(254), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint(
            "token_address", "grantee_brand_id", name="uq_brand_consents_token_address_grantee_brand_id"
        ),
    )
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "brand_id",
            sa.Integer(),
            sa.ForeignKey("brands.id", name="fk_promotions_brand_id_brands"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("budget", Uint256()),
        sa.Column("spent", Uint256(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_promotions_brand_id", "promotions", ["brand_id"])
    op.create_table(
        "promotion_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "promotion_id",
            sa.Integer(),
            sa.ForeignKey("promotions.id", name="fk_promotion_versions_promotion_id_promotions"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("promotion_id", "version", name="uq_promotion_versions_promotion_id_version"),
    )
    op.create_table(
        "actions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("customer_id", sa.String(200)),
        sa.Column("order_id", sa.String(200)),
        sa.Column("purchase_order_id", sa.String(200)),
        sa.Column("amount", sa.String(48)),
        sa.Column("currency", sa.String(3)),
        sa.Column("refunded_amount", sa.String(48)),
        sa.Column("referrer", sa.String(42)),
        sa.Column("promotion_id", sa.Integer()),
        sa.Column("custom_type", sa.String(64)),
        sa.Column("result", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("public_id", name="uq_actions_public_id"),
        sa.UniqueConstraint("brand_id", "idempotency_key", name="uq_actions_brand_id_idempotency_key"),
        sa.UniqueConstraint("brand_id", "purchase_order_id", name="uq_actions_brand_id_purchase_order_id"),
    )
    op.create_index("ix_actions_brand_order", "actions", ["brand_id", "order_id"])
    op.create_index("ix_actions_wallet", "actions", ["wallet"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=False),
        sa.Column("amount", Uint256(), nullable=False),
        sa.Column("promotion_id", sa.Integer()),
        sa.Column("promotion_version", sa.Integer()),
        sa.Column("rule_id", sa.String(64)),
        sa.Column("ref_entry_id", sa.BigInteger()),
        sa.Column("outbox_id", sa.BigInteger()),
        sa.Column("note", sa.String(200)),
        _ts("created_at"),
    )
    op.create_index("ix_ledger_entries_wallet_token", "ledger_entries", ["wallet", "token_address"])
    op.create_index("ix_ledger_entries_action_id", "ledger_entries", ["action_id"])
    op.create_table(
        "wallet_balances",
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), primary_key=True),
        sa.Column("token_address", sa.String(42), primary_key=True),
        sa.Column("credited", Uint256(), nullable=False),
        sa.Column("reversed", Uint256(), nullable=False),
        sa.Column("debt", Uint256(), nullable=False),
        sa.Column("lifetime_earned", Uint256(), nullable=False),
        _ts("updated_at"),
    )
    op.create_table(
        "brand_wallets",
        sa.Column("brand_id", sa.Integer(), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("lifetime_earned", Uint256(), nullable=False),
        sa.Column("first_purchase_action_id", sa.String(32)),
        sa.Column("referred_by", sa.String(42)),
        _ts("created_at"),
    )
    op.create_table(
        "promotion_usage",
        sa.Column("promotion_id", sa.Integer(), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("amount", Uint256(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "promotion_usage",
        "brand_wallets",
        "wallet_balances",
        "ledger_entries",
        "actions",
        "promotion_versions",
        "promotions",
        "brand_consents",
        "api_keys",
        "operator_users",
        "brands",
    ):
        op.drop_table(table)
