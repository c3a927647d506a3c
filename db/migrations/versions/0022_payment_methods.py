"""Local payment methods by currency and country (issue 15): the payment method types a
simulated Checkout session offers, fixed when it is created as at Stripe.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import JSONType

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null for sessions made before: they offered card and sepa_debit.
    op.add_column(
        "sim_checkout_sessions", sa.Column("payment_method_types", JSONType, nullable=True)
    )


def downgrade() -> None:
    op.drop_column("sim_checkout_sessions", "payment_method_types")
