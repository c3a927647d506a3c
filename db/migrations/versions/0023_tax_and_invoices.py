"""Tax ids, tax lines and invoice legal details (issue 15).

``customer_tax_ids``: the customers' tax ids (validated, synced to the provider). The
invoice mirror keeps the tax of each invoice and its legal detail. The simulator's
customers keep their TaxIds, its invoices their tax, and ``sim_invoice_numbers`` the last
number issued per invoice prefix (account-level sequential numbering).

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import JSONType, UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_tax_ids",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("provider_tax_id", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("customer_id", "type", "value", name="uq_customer_tax_ids_type_value"),
    )
    op.create_index("ix_customer_tax_ids_customer_id", "customer_tax_ids", ["customer_id"])
    op.add_column(
        "invoices", sa.Column("tax_cents", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("invoices", sa.Column("tax_details", JSONType, nullable=True))
    op.add_column("sim_customers", sa.Column("tax_ids", JSONType, nullable=True))
    op.add_column(
        "sim_invoices", sa.Column("tax_cents", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("sim_invoices", sa.Column("tax_details", JSONType, nullable=True))
    op.create_table(
        "sim_invoice_numbers",
        sa.Column("prefix", sa.String(16), primary_key=True),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sim_invoice_numbers")
    op.drop_column("sim_invoices", "tax_details")
    op.drop_column("sim_invoices", "tax_cents")
    op.drop_column("sim_customers", "tax_ids")
    op.drop_column("invoices", "tax_details")
    op.drop_column("invoices", "tax_cents")
    op.drop_index("ix_customer_tax_ids_customer_id", table_name="customer_tax_ids")
    op.drop_table("customer_tax_ids")
