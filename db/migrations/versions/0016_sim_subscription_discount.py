"""The simulator's subscriptions keep a coupon applied after creation (``discounts``) until
the next renewal's invoice takes it: the save flow's discount offer.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sim_subscriptions", sa.Column("next_invoice_coupon", sa.String(64), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("sim_subscriptions", "next_invoice_coupon")
