"""Customers keep a locale (``de``, ``pt-BR``) that lifecycle emails are written in; none
means English.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("locale", sa.String(35), nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "locale")
