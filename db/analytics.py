"""What the churn model learns from and what it leaves: customers' histories (ledger and
weekly usage), the trained models and the customers' latest scores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict
from datetime import date, datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import dialect_of, insert_for
from db.models import (
    ChurnModelRow,
    ChurnScore,
    CustomerUsageGroup,
    UsageDaily,
    UsageGroupRow,
)
from db.reporting import load_ledger
from domain.analytics.churn import ChurnModel, Score
from domain.analytics.features import CustomerHistory, week_start
from domain.analytics.usage_patterns import Grouping
from domain.limits import COUNTERS
from domain.reporting.ledger import LedgerRow

_PG_WEEKLY = text(
    """
SELECT customer_id, metric, date_trunc('week', day)::date AS week, sum(quantity)::bigint
FROM usage_daily
WHERE day < :end AND metric = ANY(:metrics)
GROUP BY 1, 2, 3
"""
)


async def load_histories(session: AsyncSession, *, end: datetime) -> list[CustomerHistory]:
    """Every customer's ledger rows and weekly usage before ``end``."""
    ledger = await load_ledger(session, end=end)
    rows_by_customer: dict[str, list[LedgerRow]] = defaultdict(list)
    for row in ledger:
        if row.customer_id is not None:
            rows_by_customer[row.customer_id].append(row)
    usage: dict[str, dict[tuple[str, date], int]] = defaultdict(dict)
    metrics = sorted(COUNTERS)
    if dialect_of(session) == "postgresql":
        result = await session.execute(_PG_WEEKLY, {"end": end.date(), "metrics": metrics})
        for customer_id, metric, week, quantity in result:
            usage[customer_id][(metric, week)] = int(quantity)
    else:
        # The embedded database of development: few rows, summed here.
        result = await session.execute(
            select(
                UsageDaily.customer_id, UsageDaily.metric, UsageDaily.day, UsageDaily.quantity
            ).where(UsageDaily.day < end.date(), UsageDaily.metric.in_(metrics))
        )
        for customer_id, metric, day, quantity in result:
            key = (metric, week_start(day))
            weeks = usage[customer_id]
            weeks[key] = weeks.get(key, 0) + int(quantity)
    return [
        CustomerHistory(customer_id, rows, usage.get(customer_id, {}))
        for customer_id, rows in rows_by_customer.items()
    ]


async def save_model(session: AsyncSession, model: ChurnModel) -> None:
    statement = insert_for(session)(ChurnModelRow).values(
        version=model.version,
        method=model.method,
        trained_at=model.trained_at,
        parameters=model.parameters(),
        metrics=model.metrics,
        note=model.note,
    )
    # A retried training run stores its model once.
    await session.execute(statement.on_conflict_do_nothing(index_elements=["version"]))


def model_from_row(row: ChurnModelRow) -> ChurnModel:
    parameters = row.parameters
    return ChurnModel(
        version=row.version,
        method=row.method,
        trained_at=row.trained_at,
        features=tuple(parameters.get("features", ())),
        means=tuple(parameters.get("means", ())),
        scales=tuple(parameters.get("scales", ())),
        coefficients=tuple(parameters.get("coefficients", ())),
        intercept=float(parameters.get("intercept", 0.0)),
        metrics=row.metrics,
        note=row.note,
    )


async def latest_model(session: AsyncSession) -> ChurnModel | None:
    row = await session.scalar(
        select(ChurnModelRow).order_by(ChurnModelRow.trained_at.desc()).limit(1)
    )
    return None if row is None else model_from_row(row)


async def save_scores(
    session: AsyncSession,
    model: ChurnModel,
    scores: Iterable[tuple[str, Score]],
    scored_at: datetime,
) -> int:
    """Each customer's latest score replaces its previous one."""
    rows = [
        {
            "customer_id": customer_id,
            "model_version": model.version,
            "probability": round(s.probability, 6),
            "risk": s.risk,
            "reasons": [asdict(r) for r in s.reasons],
            "scored_at": scored_at,
        }
        for customer_id, s in scores
    ]
    insert = insert_for(session)
    for start in range(0, len(rows), 1000):
        statement = insert(ChurnScore).values(rows[start : start + 1000])
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["customer_id"],
                set_={
                    column: statement.excluded[column]
                    for column in ("model_version", "probability", "risk", "reasons", "scored_at")
                },
            )
        )
    return len(rows)


async def score_of(session: AsyncSession, customer_id: str) -> ChurnScore | None:
    return await session.get(ChurnScore, customer_id)


async def risk_counts(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(select(ChurnScore.risk, func.count()).group_by(ChurnScore.risk))
    return {risk: int(n) for risk, n in result}


async def load_daily_messages(
    session: AsyncSession, *, since: date, end: date, customer_id: str | None = None
) -> dict[str, dict[date, int]]:
    """Messages per customer and day in [since, end)."""
    query = select(UsageDaily.customer_id, UsageDaily.day, UsageDaily.quantity).where(
        UsageDaily.metric == "messages", UsageDaily.day >= since, UsageDaily.day < end
    )
    if customer_id is not None:
        query = query.where(UsageDaily.customer_id == customer_id)
    daily: dict[str, dict[date, int]] = defaultdict(dict)
    for cid, day, quantity in await session.execute(query):
        daily[cid][day] = int(quantity)
    return daily


async def save_grouping(session: AsyncSession, grouping: Grouping, at: datetime) -> None:
    """The latest grouping replaces the previous one."""
    await session.execute(delete(CustomerUsageGroup))
    await session.execute(delete(UsageGroupRow))
    for group in grouping.groups:
        session.add(
            UsageGroupRow(
                group_id=group.group,
                description=group.description,
                customers=group.customers,
                trend=group.trend,
                rhythm=group.rhythm,
                median_weekly_messages=group.median_weekly_messages,
                silhouette=grouping.silhouette or 0.0,
                computed_at=at,
            )
        )
    await session.flush()
    members = [{"customer_id": c, "group_id": g} for c, g in grouping.members.items()]
    for start in range(0, len(members), 2000):
        await session.execute(
            insert_for(session)(CustomerUsageGroup).values(members[start : start + 2000])
        )


async def usage_groups(session: AsyncSession) -> list[UsageGroupRow]:
    return list(await session.scalars(select(UsageGroupRow).order_by(UsageGroupRow.group_id)))


async def usage_group_of(session: AsyncSession, customer_id: str) -> UsageGroupRow | None:
    return await session.scalar(
        select(UsageGroupRow)
        .join(CustomerUsageGroup, CustomerUsageGroup.group_id == UsageGroupRow.group_id)
        .where(CustomerUsageGroup.customer_id == customer_id)
    )
