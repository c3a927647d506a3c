"""The security log's retention: a function that deletes its old rows, for the app role.

The app role may only read and append to ``security_events`` (db/roles.py), so the daily
retention purge cannot delete from it directly. ``purge_security_events(before)`` runs with
the owner's rights (SECURITY DEFINER) and deletes only rows older than ``before``, which it
refuses to be later than 30 days ago: whoever holds the app's credentials can let the log
age out as the retention says, never erase the recent events an investigation needs.
PostgreSQL only (SQLite, dev mode, has no roles).

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATE = """
CREATE FUNCTION purge_security_events(before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    purged bigint;
BEGIN
    IF before IS NULL OR before > now() - interval '30 days' THEN
        RAISE EXCEPTION 'the security log keeps at least 30 days (asked to purge before %)',
            before USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM security_events WHERE occurred_at < before;
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN purged;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CREATE)
    # Functions are executable by everyone unless taken back; db/roles.py grants the app.
    op.execute("REVOKE ALL ON FUNCTION purge_security_events(timestamptz) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS purge_security_events(timestamptz)")
