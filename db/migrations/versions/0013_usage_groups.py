"""Groups of customers by usage shape (the daily analytics run's latest), and each
customer's group.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_groups",
        sa.Column("group_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("trend", sa.String(16), nullable=False),
        sa.Column("rhythm", sa.String(16), nullable=False),
        sa.Column("median_weekly_messages", sa.BigInteger(), nullable=False),
        sa.Column("silhouette", sa.Float(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "customer_usage_groups",
        sa.Column(
            "customer_id",
            sa.String(36),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("group_id", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_usage_groups")
    op.drop_table("usage_groups")
