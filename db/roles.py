"""Segregation of duties on PostgreSQL: what the app's role may do to the owner's tables.

Migrations run as the owner (``LIFECYCLE_MIGRATE_DATABASE_URL``), which owns every table,
the ledger's append-only trigger and its function. The API and the worker connect as an app
role (``LIFECYCLE_DATABASE_APP_ROLE``) that holds only table privileges: it can read and
write the engine's tables, only read and append to the logs an attacker would want to edit,
and never alter, truncate or drop anything, nor disable or drop a trigger (PostgreSQL lets
only a table's owner do that). SQLite (dev mode) has no roles: there is nothing to grant.

The grants are applied from scratch on every ``lifecycle migrate`` (revoke all, grant
again), so a table a new migration adds is covered and a privilege granted by hand is
taken back.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Evidence the app writes but must never rewrite: the billing ledger and the security log.
APPEND_ONLY_TABLES = ("ledger_events", "security_events")
# The app may check the schema's version, never move it.
READ_ONLY_TABLES = ("alembic_version",)
# The owner's functions the app may call (their own checks apply): the security log's
# retention (migration 0024).
APP_FUNCTIONS = ("purge_security_events(timestamptz)",)

_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


class RoleError(ValueError):
    """The app role's name is unusable or the role does not exist."""


def _quoted(role: str) -> str:
    if not _ROLE_NAME.match(role):
        raise RoleError(f"not a plain PostgreSQL role name: {role!r}")
    return f'"{role}"'


async def grant_app_role(connection: AsyncConnection, role: str) -> list[str]:
    """Give ``role`` exactly the app's privileges on the public schema; returns the
    statements run (for the operator's log). PostgreSQL only."""
    quoted = _quoted(role)
    exists = await connection.scalar(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    )
    if not exists:
        raise RoleError(
            f"role {role!r} does not exist: create it (CREATE ROLE {role} LOGIN PASSWORD ...) "
            "before migrating with LIFECYCLE_DATABASE_APP_ROLE"
        )
    tables = set(
        await connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
    )
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"REVOKE CREATE ON SCHEMA public FROM {quoted}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        # Identity and serial columns draw from sequences: appending needs nextval.
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
    ]
    for table in APPEND_ONLY_TABLES:
        if table in tables:
            statements.append(f'REVOKE UPDATE, DELETE ON "{table}" FROM {quoted}')
    for table in READ_ONLY_TABLES:
        if table in tables:
            statements.append(f'REVOKE INSERT, UPDATE, DELETE ON "{table}" FROM {quoted}')
    for function in APP_FUNCTIONS:
        if await connection.scalar(text("SELECT to_regprocedure(:f)"), {"f": function}):
            statements.append(f"GRANT EXECUTE ON FUNCTION {function} TO {quoted}")
    for statement in statements:
        await connection.execute(text(statement))
    return statements
