"""Payment simulator: the embedded Stripe stand-in's state.

Customers (with their test-clock offset), cards, subscriptions, invoices, charges, hosted
sessions, idempotency records and the event log, all prefixed ``sim_``.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sim_customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("engine_customer_id", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("address", JSON, nullable=True),
        sa.Column("default_payment_method_id", sa.String(length=64), nullable=True),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("invoice_sequence", sa.Integer(), nullable=False),
        sa.Column("clock_offset_seconds", sa.BigInteger(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("engine_customer_id", name="uq_sim_customers_engine_customer_id"),
    )

    op.create_table(
        "sim_payment_methods",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("charge_error_code", sa.String(length=64), nullable=True),
        sa.Column("charge_decline_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sim_customers.id"], name="fk_sim_payment_methods_customer_id"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_payment_methods", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_payment_methods_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "sim_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("price_lookup_key", sa.String(length=128), nullable=False),
        sa.Column("plan_item_id", sa.String(length=64), nullable=False),
        sa.Column("items", JSON, nullable=False),
        sa.Column("billing_cycle_anchor", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pause_behavior", sa.String(length=32), nullable=True),
        sa.Column("pause_resumes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_price_lookup_key", sa.String(length=128), nullable=True),
        sa.Column("coupon", sa.String(length=64), nullable=True),
        sa.Column("latest_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sim_customers.id"], name="fk_sim_subscriptions_customer_id"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_subscriptions_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "sim_invoices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("billing_reason", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("subtotal_cents", sa.BigInteger(), nullable=False),
        sa.Column("discount_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("starting_balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("ending_balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_due_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_remaining_cents", sa.BigInteger(), nullable=False),
        sa.Column("coupon", sa.String(length=64), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("attempted", sa.Boolean(), nullable=False),
        sa.Column("next_payment_attempt", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_payment_error", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sim_customers.id"], name="fk_sim_invoices_customer_id"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sim_invoices_customer_sequence", ["customer_id", "sequence"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sim_invoices_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "sim_charges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("payment_method_id", sa.String(length=64), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("decline_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sim_customers.id"], name="fk_sim_charges_customer_id"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_charges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_charges_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sim_charges_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "sim_checkout_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("engine_customer_id", sa.String(length=64), nullable=True),
        sa.Column("price_lookup_key", sa.String(length=128), nullable=True),
        sa.Column("coupon", sa.String(length=64), nullable=True),
        sa.Column("success_url", sa.Text(), nullable=True),
        sa.Column("cancel_url", sa.Text(), nullable=True),
        sa.Column("return_url", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("completion_event_ids", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sim_customers.id"], name="fk_sim_checkout_sessions_customer_id"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_checkout_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_checkout_sessions_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "sim_idempotency_records",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )

    op.create_table(
        "sim_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id", name="uq_sim_events_event_id"),
    )
    with op.batch_alter_table("sim_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_events_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sim_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_events_customer_id"))
    op.drop_table("sim_events")

    op.drop_table("sim_idempotency_records")

    with op.batch_alter_table("sim_checkout_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_checkout_sessions_customer_id"))
    op.drop_table("sim_checkout_sessions")

    with op.batch_alter_table("sim_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_charges_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_sim_charges_customer_id"))
    op.drop_table("sim_charges")

    with op.batch_alter_table("sim_invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_invoices_subscription_id"))
        batch_op.drop_index("ix_sim_invoices_customer_sequence")
    op.drop_table("sim_invoices")

    with op.batch_alter_table("sim_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_subscriptions_customer_id"))
    op.drop_table("sim_subscriptions")

    with op.batch_alter_table("sim_payment_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_payment_methods_customer_id"))
    op.drop_table("sim_payment_methods")

    op.drop_table("sim_customers")
