"""Relayer: intents, signed attempts, hot wallet nonce counters.

Revision ID: 0002_relayer
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from backend.adapters.orm.base import Uint256

revision = "0002_relayer"
down_revision = "0001_foundation"
branch_labels = ("relayer",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "relay_intents",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("value_wei", Uint256(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("wallet", sa.String(42)),
        sa.Column("nonce", sa.BigInteger()),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("block_number", sa.BigInteger()),
        sa.Column("block_hash", sa.String(66)),
        sa.Column("gas_used", sa.BigInteger()),
        sa.Column("effective_gas_price", Uint256()),
        sa.Column("fee_paid_wei", Uint256()),
        sa.Column("error", sa.String(500)),
        sa.Column("waiting_reason", sa.String(300)),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("included_at", sa.DateTime(timezone=True)),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("purpose", "ref", name="uq_relay_intents_purpose_ref"),
    )
    op.create_index("ix_relay_intents_state", "relay_intents", ["chain_id", "state"])
    op.create_index("ix_relay_intents_wallet_nonce", "relay_intents", ["chain_id", "wallet", "nonce"])
    op.create_index("ix_relay_intents_unsettled", "relay_intents", ["purpose", "state", "settled"])
    op.create_table(
        "relay_attempts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column(
            "intent_id",
            sa.BigInteger(),
            sa.ForeignKey("relay_intents.id", name="fk_relay_attempts_intent_id_relay_intents"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("max_fee_per_gas", Uint256(), nullable=False),
        sa.Column("max_priority_fee_per_gas", Uint256()),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.String(300)),
        sa.Column("sent_at_block", sa.BigInteger()),
        sa.Column("broadcasts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tx_hash", name="uq_relay_attempts_tx_hash"),
    )
    op.create_index("ix_relay_attempts_intent", "relay_attempts", ["intent_id"])
    op.create_index("ix_relay_attempts_status", "relay_attempts", ["status"])
    op.create_table(
        "hot_wallet_state",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hot_wallet_state")
    op.drop_table("relay_attempts")
    op.drop_table("relay_intents")
