"""The facts segments select on, one row per customer in one query (the read model, the
latest churn score, usage group and usage trend, the billing country), and the usage
trends the daily analytics run leaves for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import ChurnScore, Customer, CustomerUsageGroup, CustomerUsageTrend, UsageGroupRow
from domain.growth.segments import CustomerFacts


def _facts_query(customer_ids: Sequence[str] | None = None) -> Select[Any]:
    country = Customer.billing_address["country"].as_string()
    query = (
        select(
            Customer.id,
            Customer.plan,
            Customer.status,
            Customer.created_at,
            Customer.mrr_cents,
            Customer.interval,
            ChurnScore.risk,
            CustomerUsageGroup.group_id,
            CustomerUsageTrend.trend,
            country,
        )
        .outerjoin(ChurnScore, ChurnScore.customer_id == Customer.id)
        .outerjoin(CustomerUsageGroup, CustomerUsageGroup.customer_id == Customer.id)
        .outerjoin(CustomerUsageTrend, CustomerUsageTrend.customer_id == Customer.id)
        .order_by(Customer.id)
    )
    if customer_ids is not None:
        query = query.where(Customer.id.in_(customer_ids))
    return query


async def load_facts(
    session: AsyncSession, customer_ids: Sequence[str] | None = None
) -> list[CustomerFacts]:
    """Every customer's facts (or those of ``customer_ids``), ordered by id."""
    result = await session.execute(_facts_query(customer_ids))
    return [
        CustomerFacts(
            customer_id=cid,
            plan=plan,
            status=status,
            signed_up_at=created_at,
            mrr_cents=mrr or 0,
            interval=interval,
            churn_risk=risk,
            usage_group=group,
            usage_trend=trend,
            country=country.upper() if country else None,
        )
        for cid, plan, status, created_at, mrr, interval, risk, group, trend, country in result
    ]


async def usage_group_descriptions(session: AsyncSession) -> list[tuple[int, str]]:
    """The latest analytics run's groups, for the computed segments."""
    rows = await session.execute(
        select(UsageGroupRow.group_id, UsageGroupRow.description).order_by(UsageGroupRow.group_id)
    )
    return [(int(group), description) for group, description in rows]


async def save_usage_trends(session: AsyncSession, trends: Mapping[str, str], at: datetime) -> None:
    """The latest run's trends replace the previous ones (customers without a read-model
    row, e.g. usage recorded for an unknown id, are left out)."""
    await session.execute(delete(CustomerUsageTrend))
    known = set(await session.scalars(select(Customer.id)))
    rows = [
        {"customer_id": cid, "trend": trend, "computed_at": at}
        for cid, trend in trends.items()
        if cid in known
    ]
    for start in range(0, len(rows), 2000):
        await session.execute(
            insert_for(session)(CustomerUsageTrend).values(rows[start : start + 2000])
        )
