"""Usage history: per-period totals and daily series, for charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import UsageCounter, UsageDaily


@dataclass(frozen=True)
class PeriodTotal:
    metric: str
    period_start: datetime
    period_end: datetime | None
    used: int
    grace_reached_at: datetime | None


async def period_totals(
    session: AsyncSession, customer_id: str, metric: str, periods: int
) -> list[PeriodTotal]:
    """The metric's counters, newest period first."""
    rows = await session.scalars(
        select(UsageCounter)
        .where(UsageCounter.customer_id == customer_id, UsageCounter.metric == metric)
        .order_by(UsageCounter.period_start.desc())
        .limit(periods)
    )
    return [
        PeriodTotal(
            metric=r.metric,
            period_start=r.period_start,
            period_end=r.period_end,
            used=r.used,
            grace_reached_at=r.grace_reached_at,
        )
        for r in rows
    ]


async def daily_totals(
    session: AsyncSession, customer_id: str, metric: str, since: date
) -> list[tuple[date, int]]:
    rows = await session.execute(
        select(UsageDaily.day, UsageDaily.quantity)
        .where(
            UsageDaily.customer_id == customer_id,
            UsageDaily.metric == metric,
            UsageDaily.day >= since,
        )
        .order_by(UsageDaily.day)
    )
    return [(day, int(quantity)) for day, quantity in rows]


async def daily_series(
    session: AsyncSession, customer_id: str, *, since: date
) -> dict[str, dict[date, int]]:
    """Every metric's daily totals since ``since``, by metric."""
    rows = await session.execute(
        select(UsageDaily.metric, UsageDaily.day, UsageDaily.quantity).where(
            UsageDaily.customer_id == customer_id, UsageDaily.day >= since
        )
    )
    series: dict[str, dict[date, int]] = {}
    for metric, day, quantity in rows:
        series.setdefault(metric, {})[day] = int(quantity)
    return series
