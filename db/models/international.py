"""Exchange rates for reporting in one currency (issue 15 part 5); never used to charge."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.core import Base, BigIntId
from db.types import UTCDateTime


class FxRate(Base):
    """One unit of ``base`` buys ``rate`` units of ``currency`` on ``rate_date`` (a reference
    rate in the ECB's quotation: base EUR, 1.08 USD). Reports cross through ``base`` to the
    reporting currency with the rate on or before a figure's date."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("rate_date", "currency", "base", name="uq_fx_rates_date_currency_base"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    rate_date: Mapped[date] = mapped_column(Date, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    base: Mapped[str] = mapped_column(String(3))
    # A decimal as text ("0.0067"): exact on PostgreSQL and SQLite alike.
    rate: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
