"""The webhook inbox's undelivered rows, indexed: the metrics scrape counts them every 30 s
and the inbox keeps every event ever received.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_events_undelivered",
        "webhook_events",
        ["received_at"],
        postgresql_where=sa.text("status = 'received'"),
        sqlite_where=sa.text("status = 'received'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_events_undelivered", table_name="webhook_events")
