"""Currencies, regional prices, exchange rates (issue 15).

Customers keep the currency they pay in (chosen at sign-up, fixed by their first
subscription; none: the catalog's own), their billing country (ISO 3166-1 alpha-2) and the
region whose prices they pay (the country's, or an admin's override). The
simulator's customers and Checkout sessions keep theirs as Stripe's do. ``fx_rates``: dated
exchange rates for reporting in one currency (never to charge).

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("currency", sa.String(3), nullable=True))
    op.add_column("customers", sa.Column("country", sa.String(2), nullable=True))
    op.add_column("customers", sa.Column("region", sa.String(64), nullable=True))
    op.add_column("customers", sa.Column("region_override", sa.String(64), nullable=True))
    op.add_column("sim_customers", sa.Column("currency", sa.String(8), nullable=True))
    op.add_column("sim_checkout_sessions", sa.Column("currency", sa.String(8), nullable=True))
    op.create_table(
        "fx_rates",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("base", sa.String(3), nullable=False),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("rate_date", "currency", "base", name="uq_fx_rates_date_currency_base"),
    )
    op.create_index("ix_fx_rates_rate_date", "fx_rates", ["rate_date"])


def downgrade() -> None:
    op.drop_index("ix_fx_rates_rate_date", table_name="fx_rates")
    op.drop_table("fx_rates")
    op.drop_column("sim_checkout_sessions", "currency")
    op.drop_column("sim_customers", "currency")
    op.drop_column("customers", "region_override")
    op.drop_column("customers", "region")
    op.drop_column("customers", "country")
    op.drop_column("customers", "currency")
