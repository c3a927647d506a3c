"""A version of each customer's usage context, so the API may keep contexts in memory.

``customers.usage_version`` changes, in the same transaction, with anything a usage
context is read from (``db.usage.context``): the customer's status, plan, interval, trial
and period dates, its limit overrides and its add-ons. The ingestion statement checks the
versions of the contexts it was planned with and writes nothing when one moved on, so a
context kept in memory can never record usage against stale limits or periods, whichever
process or transaction changed the customer. Triggers keep it, so a write by any path
(an activity, the admin API, an operator's SQL) counts.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The customers columns a usage context reads.
_CONTEXT_COLUMNS = (
    "status",
    "plan",
    "interval",
    "trial_started_at",
    "trial_ends_at",
    "current_period_start",
    "current_period_end",
)

CREATE = [
    """
CREATE FUNCTION customers_usage_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.usage_version := OLD.usage_version + 1;
    RETURN NEW;
END
$$
""",
    """
CREATE TRIGGER customers_usage_version BEFORE UPDATE ON customers FOR EACH ROW
WHEN (({old}) IS DISTINCT FROM ({new}))
EXECUTE FUNCTION customers_usage_version()
""".format(
        old=", ".join(f'OLD."{c}"' for c in _CONTEXT_COLUMNS),
        new=", ".join(f'NEW."{c}"' for c in _CONTEXT_COLUMNS),
    ),
    """
CREATE FUNCTION usage_context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- OLD and NEW of one row name one customer; a row moved between customers counts
    -- for both.
    IF TG_OP <> 'INSERT' THEN
        UPDATE customers SET usage_version = usage_version + 1 WHERE id = OLD.customer_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.customer_id <> OLD.customer_id) THEN
        UPDATE customers SET usage_version = usage_version + 1 WHERE id = NEW.customer_id;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER limit_overrides_usage_version
AFTER INSERT OR UPDATE OR DELETE ON limit_overrides FOR EACH ROW
EXECUTE FUNCTION usage_context_changed()
""",
    """
CREATE TRIGGER customer_addons_usage_version
AFTER INSERT OR UPDATE OR DELETE ON customer_addons FOR EACH ROW
EXECUTE FUNCTION usage_context_changed()
""",
]

DROP = [
    "DROP TRIGGER IF EXISTS customer_addons_usage_version ON customer_addons",
    "DROP TRIGGER IF EXISTS limit_overrides_usage_version ON limit_overrides",
    "DROP FUNCTION IF EXISTS usage_context_changed()",
    "DROP TRIGGER IF EXISTS customers_usage_version ON customers",
    "DROP FUNCTION IF EXISTS customers_usage_version()",
]


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("usage_version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in CREATE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP:
            op.execute(statement)
    op.drop_column("customers", "usage_version")
