"""Terms by version; customers' terms version and needs-attention flag.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import JSONType, UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "terms_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("document", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("terms_version", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("needs_attention", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_customers_needs_attention", ["needs_attention"])
    op.create_index(
        "ix_usage_crossings_unsignalled",
        "usage_threshold_crossings",
        ["crossed_at"],
        postgresql_where=sa.text("signalled_at IS NULL"),
        sqlite_where=sa.text("signalled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_usage_crossings_unsignalled", table_name="usage_threshold_crossings")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_needs_attention")
        batch.drop_column("needs_attention")
        batch.drop_column("terms_version")
    op.drop_table("terms_versions")
