"""One line of revisions: merges the feature branches (each 0002_*, and 0003 after earning) into a single head.

Changes no table. A database migrated before this revision has one `alembic_version` row per branch head;
upgrading replaces them with this one. New revisions follow this one (`alembic revision -m ...`).

Revision ID: 0004_one_line
Revises: 0002_indexer, 0002_notifications, 0002_pipeline, 0002_qr, 0002_relayer, 0002_shoppers,
    0003_action_imports
"""

revision = "0004_one_line"
down_revision = (
    "0002_indexer",
    "0002_notifications",
    "0002_pipeline",
    "0002_qr",
    "0002_relayer",
    "0002_shoppers",
    "0003_action_imports",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
