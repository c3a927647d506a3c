"""The exchange-rate table (``fx_rates``): dated reference rates for reporting."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import FxRate
from domain.reporting.currencies import Rate


async def upsert_rates(session: AsyncSession, rates: Iterable[Rate], *, now: datetime) -> int:
    """Store the rates; a rate already stored for the same day, currency and base is
    replaced (a correction). Returns how many rows were written."""
    written = 0
    insert = insert_for(session)
    for rate in rates:
        values = {
            "rate_date": rate.day,
            "currency": rate.currency.lower(),
            "base": rate.base.lower(),
            "rate": str(rate.rate),
            "source": rate.source,
            "loaded_at": now,
        }
        statement = (
            insert(FxRate)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["rate_date", "currency", "base"],
                set_={"rate": values["rate"], "source": rate.source, "loaded_at": now},
            )
        )
        await session.execute(statement)
        written += 1
    return written


async def stored_rates(session: AsyncSession, currency: str | None = None) -> list[Rate]:
    query = select(FxRate).order_by(FxRate.rate_date, FxRate.currency, FxRate.base)
    if currency is not None:
        query = query.where(FxRate.currency == currency.lower())
    rows = await session.scalars(query)
    return [
        Rate(
            day=row.rate_date,
            currency=row.currency,
            rate=Decimal(row.rate),
            base=row.base,
            source=row.source,
        )
        for row in rows
    ]
