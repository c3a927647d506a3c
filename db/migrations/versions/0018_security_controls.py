"""Segregation of duties, ledger anchors, API key review, security events (issue 16).

The security event log, what the access review knows of stored keys (creator, expiry, last
use) and the kill switches. Grants to the app role are not a migration's business: they are
applied on every ``lifecycle migrate`` (db/roles.py).

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import JSONType, UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("key_prefix", sa.String(32), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("detail", JSONType, nullable=False),
    )
    op.create_index("ix_security_events_occurred_at", "security_events", ["occurred_at"])
    op.create_index("ix_security_events_kind", "security_events", ["kind"])
    op.create_index("ix_security_events_client_ip", "security_events", ["client_ip"])
    op.create_table(
        "api_key_details",
        sa.Column(
            "key_id",
            sa.String(32),
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "kill_switches",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kill_switches")
    op.drop_table("api_key_details")
    op.drop_index("ix_security_events_client_ip", table_name="security_events")
    op.drop_index("ix_security_events_kind", table_name="security_events")
    op.drop_index("ix_security_events_occurred_at", table_name="security_events")
    op.drop_table("security_events")
