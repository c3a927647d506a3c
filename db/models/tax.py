"""Customers' tax ids (issue 15 part 3): validated on the way in, copied onto the provider
customer (Stripe's ``tax_ids``), where invoices read them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.core import Base, BigIntId
from db.types import UTCDateTime


class CustomerTaxId(Base):
    __tablename__ = "customer_tax_ids"
    __table_args__ = (
        UniqueConstraint("customer_id", "type", "value", name="uq_customer_tax_ids_type_value"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    # Stripe's type (eu_vat, gb_vat...) and the number as python-stdnum compacts it.
    type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(64))
    # Where it was issued (ISO 3166-1 alpha-2).
    country: Mapped[str] = mapped_column(String(2))
    # The provider's TaxId (txi_...) once synced.
    provider_tax_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
