"""Email dispatch: the outbox is sent by a dispatcher, apart from the lifecycle's timeline.

Each attempt is recorded before the provider is called (``sending``, when it started, and
for SendGrid the batch and scheduled time that let a retry cancel an unconfirmed attempt);
provider errors back off to ``next_attempt_at``.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("email_outbox") as table:
        table.add_column(sa.Column("attempt_started_at", TIME, nullable=True))
        table.add_column(sa.Column("next_attempt_at", TIME, nullable=True))
        table.add_column(sa.Column("batch_id", sa.String(255), nullable=True))
        table.add_column(sa.Column("send_at", TIME, nullable=True))
    # The dispatcher's claim: pending (and stale sending) rows in order.
    op.create_index("ix_email_outbox_status_id", "email_outbox", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_email_outbox_status_id", table_name="email_outbox")
    with op.batch_alter_table("email_outbox") as table:
        table.drop_column("send_at")
        table.drop_column("batch_id")
        table.drop_column("next_attempt_at")
        table.drop_column("attempt_started_at")
