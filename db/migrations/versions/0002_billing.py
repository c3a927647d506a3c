"""Billing: provider ids on customers, the invoice mirror, the webhook inbox.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("provider_customer_id", sa.String(length=255), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_events_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_webhook_events_type"), ["type"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("subtotal_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_due_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_remaining_cents", sa.BigInteger(), nullable=False),
        sa.Column("billing_reason", sa.String(length=64), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        sa.Column("invoice_pdf", sa.Text(), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_payment_attempt", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invoices_customer_created", ["customer_id", "created_at"], unique=False
        )

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mrr_cents", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("pause_resumes_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("provider_customer_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("provider_subscription_id", sa.String(length=255), nullable=True)
        )
        batch_op.add_column(sa.Column("payment_method_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("payment_method_brand", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("payment_method_last4", sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column("payment_method_exp_month", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("payment_method_exp_year", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("billing_address", JSON, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customers_provider_subscription_id"),
            ["provider_subscription_id"],
            unique=False,
        )
        batch_op.create_unique_constraint(
            "uq_customers_provider_customer_id", ["provider_customer_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_customers_provider_customer_id", type_="unique")
        batch_op.drop_index(batch_op.f("ix_customers_provider_subscription_id"))
        batch_op.drop_column("billing_address")
        batch_op.drop_column("payment_method_exp_year")
        batch_op.drop_column("payment_method_exp_month")
        batch_op.drop_column("payment_method_last4")
        batch_op.drop_column("payment_method_brand")
        batch_op.drop_column("payment_method_id")
        batch_op.drop_column("provider_subscription_id")
        batch_op.drop_column("provider_customer_id")
        batch_op.drop_column("pause_resumes_at")
        batch_op.drop_column("mrr_cents")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_customer_created")

    op.drop_table("invoices")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_events_type"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_customer_id"))

    op.drop_table("webhook_events")
