"""Payment simulator: Stripe's shapes at the pinned API version.

PaymentIntents (one per invoice, holding the last attempt's decline) and subscription
schedules become tables; subscriptions gain their own card, ``cancel_at`` and the
cancellation reason, and lose the non-Stripe ``scheduled_price_lookup_key``; payment methods
can be detached and remember a 3-D Secure or delayed behaviour; charges name their
PaymentIntent and keep refunds and disputes; Checkout sessions keep their payment status.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sim_payment_intents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_payment_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_received_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("payment_method_id", sa.String(length=64), nullable=True),
        sa.Column("last_payment_error", JSON, nullable=True),
        sa.Column("latest_charge_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("succeeded_at", TIME, nullable=True),
        sa.Column("canceled_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sim_customers.id"], name="fk_sim_payment_intents_customer_id"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_payment_intents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_payment_intents_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sim_payment_intents_invoice_id"), ["invoice_id"], unique=False
        )

    op.create_table(
        "sim_subscription_schedules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phases", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("released_at", TIME, nullable=True),
        sa.Column("canceled_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["sim_customers.id"], name="fk_sim_subscription_schedules_customer_id"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sim_subscription_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_subscription_schedules_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sim_subscription_schedules_subscription_id"),
            ["subscription_id"],
            unique=False,
        )

    with op.batch_alter_table("sim_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancel_at", TIME, nullable=True))
        batch_op.add_column(sa.Column("cancellation_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("schedule_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("default_payment_method_id", sa.String(length=64), nullable=True)
        )
        batch_op.drop_column("scheduled_price_lookup_key")

    with op.batch_alter_table("sim_payment_methods", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(
            sa.Column("type", sa.String(length=32), nullable=False, server_default="card")
        )
        batch_op.add_column(sa.Column("behavior", sa.String(length=32), nullable=True))

    with op.batch_alter_table("sim_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marked_uncollectible_at", TIME, nullable=True))
        batch_op.drop_column("last_payment_error")

    with op.batch_alter_table("sim_charges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_intent_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("amount_refunded_cents", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("disputed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_sim_charges_payment_intent_id"), ["payment_intent_id"], unique=False
        )

    with op.batch_alter_table("sim_checkout_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "payment_status", sa.String(length=32), nullable=False, server_default="unpaid"
            )
        )
        batch_op.add_column(sa.Column("invoice_id", sa.String(length=64), nullable=True))
    # Sessions completed before this revision were paid by card at once.
    op.execute("UPDATE sim_checkout_sessions SET payment_status = 'paid' WHERE status = 'complete'")


def downgrade() -> None:
    with op.batch_alter_table("sim_checkout_sessions", schema=None) as batch_op:
        batch_op.drop_column("invoice_id")
        batch_op.drop_column("payment_status")

    with op.batch_alter_table("sim_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_charges_payment_intent_id"))
        batch_op.drop_column("disputed")
        batch_op.drop_column("amount_refunded_cents")
        batch_op.drop_column("payment_intent_id")

    with op.batch_alter_table("sim_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_payment_error", JSON, nullable=True))
        batch_op.drop_column("marked_uncollectible_at")

    # Detached payment methods have no customer to go back to.
    op.execute("DELETE FROM sim_payment_methods WHERE customer_id IS NULL")
    with op.batch_alter_table("sim_payment_methods", schema=None) as batch_op:
        batch_op.drop_column("behavior")
        batch_op.drop_column("type")
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=False)

    with op.batch_alter_table("sim_subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scheduled_price_lookup_key", sa.String(length=128), nullable=True)
        )
        batch_op.drop_column("default_payment_method_id")
        batch_op.drop_column("schedule_id")
        batch_op.drop_column("cancellation_reason")
        batch_op.drop_column("cancel_at")

    with op.batch_alter_table("sim_subscription_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_subscription_schedules_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_sim_subscription_schedules_customer_id"))
    op.drop_table("sim_subscription_schedules")

    with op.batch_alter_table("sim_payment_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_payment_intents_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_sim_payment_intents_customer_id"))
    op.drop_table("sim_payment_intents")
