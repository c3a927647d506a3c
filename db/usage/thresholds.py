"""Threshold crossings (80 % / 100 % notices: whoever inserts a crossing signals it) and the
grace mark (when a counter first reached its grace band in a period)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import UsageCounter, UsageThresholdCrossing
from db.usage.records import Crossing

# The grace mark of many counters at once (the ingest's hot path, on asyncpg).
PG_MARK_GRACE = """
UPDATE usage_counters u SET grace_reached_at = $4
FROM unnest($1::varchar[], $2::varchar[], $3::timestamptz[]) AS g(customer_id, metric, period_start)
WHERE u.customer_id = g.customer_id AND u.metric = g.metric
  AND u.period_start = g.period_start AND u.grace_reached_at IS NULL
"""


async def record_crossings(
    session: AsyncSession, crossings: Sequence[Crossing], now: datetime
) -> list[Crossing]:
    """Insert crossing rows; answers the ones this transaction inserted (only their
    inserter signals the workflow)."""
    if not crossings:
        return []
    ordered = sorted(
        set(crossings), key=lambda c: (c.customer_id, c.metric, c.period_start, c.threshold)
    )
    statement = (
        insert_for(session)(UsageThresholdCrossing)
        .values(
            [
                {
                    "customer_id": c.customer_id,
                    "metric": c.metric,
                    "period_start": c.period_start,
                    "threshold": c.threshold,
                    "used": c.used,
                    "limit": c.limit,
                    "crossed_at": now,
                }
                for c in ordered
            ]
        )
        .on_conflict_do_nothing(
            index_elements=["customer_id", "metric", "period_start", "threshold"]
        )
        .returning(
            UsageThresholdCrossing.customer_id,
            UsageThresholdCrossing.metric,
            UsageThresholdCrossing.period_start,
            UsageThresholdCrossing.threshold,
        )
    )
    inserted = {tuple(row) for row in await session.execute(statement)}
    return [
        c for c in ordered if (c.customer_id, c.metric, c.period_start, c.threshold) in inserted
    ]


async def mark_grace(
    session: AsyncSession, counters: Iterable[tuple[str, str, datetime]], now: datetime
) -> None:
    """Remember the first time each counter reached the grace band in its period."""
    for customer_id, metric, period_start in sorted(set(counters)):
        await session.execute(
            update(UsageCounter)
            .where(
                UsageCounter.customer_id == customer_id,
                UsageCounter.metric == metric,
                UsageCounter.period_start == period_start,
                UsageCounter.grace_reached_at.is_(None),
            )
            .values(grace_reached_at=now)
        )


async def unsignalled_crossings(session: AsyncSession, customer_id: str) -> list[Crossing]:
    rows = await session.scalars(
        select(UsageThresholdCrossing)
        .where(
            UsageThresholdCrossing.customer_id == customer_id,
            UsageThresholdCrossing.signalled_at.is_(None),
        )
        .order_by(UsageThresholdCrossing.crossed_at, UsageThresholdCrossing.threshold)
    )
    return [
        Crossing(
            customer_id=r.customer_id,
            metric=r.metric,
            period_start=r.period_start,
            threshold=r.threshold,
            used=r.used,
            limit=r.limit,
        )
        for r in rows
    ]


async def mark_signalled(session: AsyncSession, crossing: Crossing, now: datetime) -> None:
    await session.execute(
        update(UsageThresholdCrossing)
        .where(
            UsageThresholdCrossing.customer_id == crossing.customer_id,
            UsageThresholdCrossing.metric == crossing.metric,
            UsageThresholdCrossing.period_start == crossing.period_start,
            UsageThresholdCrossing.threshold == crossing.threshold,
            UsageThresholdCrossing.signalled_at.is_(None),
        )
        .values(signalled_at=now)
    )
