"""Audit trail: hash-chained, append-only ledger; stored API keys.

Revision ID: 0006
Revises: 0005
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from db.ledger import GENESIS_HASH, HASHED_FIELDS, row_hash

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_GUARD = [
    """CREATE OR REPLACE FUNCTION ledger_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql""",
    """CREATE TRIGGER ledger_events_append_only
    BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_events_append_only()""",
    """CREATE TRIGGER ledger_events_no_truncate
    BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_append_only()""",
]

_SQLITE_GUARD = [
    """CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
       BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END""",
    """CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
       BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END""",
]


def _as_the_app_reads(fields: dict[str, Any]) -> dict[str, Any]:
    """Raw rows as the ORM hands them to the hash: parsed JSON, aware UTC datetimes."""
    if isinstance(fields["data"], str):
        fields["data"] = json.loads(fields["data"])
    for name in ("occurred_at", "recorded_at"):
        moment = fields[name]
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        fields[name] = moment.astimezone(UTC) if moment else None
    return fields


def upgrade() -> None:
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.alter_column("customer_id", existing_type=sa.String(length=36), nullable=True)

    # Chain the rows written before the chain existed, in insertion order.
    bind = op.get_bind()
    columns = ", ".join(("id", *HASHED_FIELDS))
    rows = bind.execute(sa.text(f"SELECT {columns} FROM ledger_events ORDER BY id")).mappings()
    ledger = sa.table("ledger_events", sa.column("id"), sa.column("prev_hash"), sa.column("hash"))
    prev = GENESIS_HASH
    for row in list(rows):
        fields = _as_the_app_reads(dict(row))
        digest = row_hash(prev, fields)
        bind.execute(
            ledger.update().where(ledger.c.id == row["id"]).values(prev_hash=prev, hash=digest)
        )
        prev = digest

    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)

    # SQLite's batch mode rebuilds tables and drops their triggers: a later migration that
    # alters ledger_events in batch mode must create these again.
    for statement in _PG_GUARD if bind.dialect.name == "postgresql" else _SQLITE_GUARD:
        op.execute(statement)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_events_no_truncate ON ledger_events")
        op.execute("DROP TRIGGER ledger_events_append_only ON ledger_events")
        op.execute("DROP FUNCTION ledger_events_append_only()")
    else:
        op.execute("DROP TRIGGER ledger_events_no_update")
        op.execute("DROP TRIGGER ledger_events_no_delete")
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
