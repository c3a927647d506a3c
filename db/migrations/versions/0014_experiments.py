"""Pricing experiments: each sign-up's variant, exposures, and each experiment's state.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiment_states",
        sa.Column("experiment_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("winner", sa.String(64), nullable=True),
        sa.Column("winner_terms_version", sa.String(64), nullable=True),
        sa.Column("changed_by", sa.String(255), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    # No foreign key to customers: the assignment is taken before the customer's row
    # exists, so a retried sign-up finds the same variant.
    op.create_table(
        "experiment_assignments",
        sa.Column("experiment_id", sa.String(64), primary_key=True),
        sa.Column("subject_id", sa.String(255), primary_key=True),
        sa.Column("variant", sa.String(64), nullable=False),
        # "experiment": drawn by the hash; "rollout": a sign-up after the winner was rolled
        # out (pinned to the winner's terms, left out of the results).
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("terms_version", sa.String(64), nullable=False),
        sa.Column("price_book", sa.String(160), nullable=True),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        # An admin moved the customer to today's terms: no longer pinned to the variant.
        sa.Column("migrated_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_experiment_assignments_customer", "experiment_assignments", ["customer_id"])
    op.create_table(
        "experiment_exposures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("experiment_id", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(255), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("exposed_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_experiment_exposures_experiment",
        "experiment_exposures",
        ["experiment_id", "variant", "subject_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_experiment_exposures_experiment", table_name="experiment_exposures")
    op.drop_table("experiment_exposures")
    op.drop_index("ix_experiment_assignments_customer", table_name="experiment_assignments")
    op.drop_table("experiment_assignments")
    op.drop_table("experiment_states")
