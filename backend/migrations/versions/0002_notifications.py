"""Notifications: platform event log, webhook endpoints, deliveries and attempts, GDPR request log.

Revision ID: 0002_notifications
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_notifications"
down_revision = "0001_foundation"
branch_labels = ("notifications",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "platform_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fanned_out", sa.Boolean(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_platform_events_brand_id_id", "platform_events", ["brand_id", "id"])
    op.create_index("ix_platform_events_fanned_out", "platform_events", ["fanned_out"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.String(300), nullable=False),
        sa.Column("description", sa.String(200)),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100)),
        _ts("previous_secret_expires_at", nullable=True),
        sa.Column("created_by", sa.String(254), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("deleted_at", nullable=True),
    )
    op.create_index("ix_webhook_endpoints_brand_id", "webhook_endpoints", ["brand_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("replay_of", sa.BigInteger()),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.String(300)),
        sa.Column("last_latency_ms", sa.Integer()),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("delivered_at", nullable=True),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(300)),
        _ts("created_at"),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])
    op.create_table(
        "gdpr_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("subject_hash", sa.String(64), nullable=False),
        sa.Column("brand_id", sa.Integer()),
        sa.Column("requested_by", sa.String(254), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        _ts("created_at"),
    )


def downgrade() -> None:
    for table in ("gdpr_requests", "webhook_attempts", "webhook_deliveries", "webhook_endpoints", "platform_events"):
        op.drop_table(table)
