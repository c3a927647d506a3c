"""Churn models (trained daily, kept with their metrics) and each customer's latest score.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import JSONType, UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "churn_models",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("trained_at", UTCDateTime(), nullable=False),
        sa.Column("parameters", JSONType, nullable=False),
        sa.Column("metrics", JSONType, nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_churn_models_trained_at", "churn_models", ["trained_at"])
    op.create_table(
        "churn_scores",
        sa.Column(
            "customer_id",
            sa.String(36),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("risk", sa.String(8), nullable=False),
        sa.Column("reasons", JSONType, nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_churn_scores_risk", "churn_scores", ["risk"])


def downgrade() -> None:
    op.drop_index("ix_churn_scores_risk", table_name="churn_scores")
    op.drop_table("churn_scores")
    op.drop_index("ix_churn_models_trained_at", table_name="churn_models")
    op.drop_table("churn_models")
