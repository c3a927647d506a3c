"""Maker-checker approvals, configuration versions, reconciliation (issue 16).

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import JSONType, UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("parameters", JSONType, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requester_key_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("result", JSONType, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("executed_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_approval_requests_status_created", "approval_requests", ["status", "created_at"]
    )
    op.create_index("ix_approval_requests_customer_id", "approval_requests", ["customer_id"])
    op.create_table(
        "config_versions",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("deployed_by", sa.String(255), nullable=True),
        sa.Column("previous_hash", sa.String(64), nullable=True),
        sa.Column("diff", sa.Text(), nullable=True),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("last_loaded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_config_versions_last_loaded_at", "config_versions", ["last_loaded_at"])
    op.add_column("customers", sa.Column("config_version", sa.String(64), nullable=True))
    op.create_table(
        "reconciliation_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("run_key", sa.String(128), nullable=False, unique=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("invoices_compared", sa.Integer(), nullable=False),
        sa.Column("subscriptions_compared", sa.Integer(), nullable=False),
        sa.Column("difference_count", sa.Integer(), nullable=False),
        sa.Column("differences", JSONType, nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_reconciliation_runs_as_of", "reconciliation_runs", ["as_of"])


def downgrade() -> None:
    op.drop_column("customers", "config_version")
    op.drop_index("ix_config_versions_last_loaded_at", table_name="config_versions")
    op.drop_table("config_versions")
    op.drop_index("ix_reconciliation_runs_as_of", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")
    op.drop_index("ix_approval_requests_customer_id", table_name="approval_requests")
    op.drop_index("ix_approval_requests_status_created", table_name="approval_requests")
    op.drop_table("approval_requests")
