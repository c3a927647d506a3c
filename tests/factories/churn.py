"""Generated customer histories with a known churn driver (``devtools.analytics_history``),
written into a database for the churn model's tests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

from db.engine import SessionFactory
from db.models import Customer, UsageDaily
from devtools.analytics_history import START, generated_histories
from domain.analytics.features import CustomerHistory, state_at
from tests.factories.records import append_row

__all__ = ["START", "generated_histories", "write_histories"]


async def write_histories(
    sessions: SessionFactory, histories: list[CustomerHistory], *, now: datetime
) -> None:
    """Customers (in the state their ledger leaves them), their ledger rows through
    ``append_ledger`` and their weekly usage as one daily total on each week's Monday."""
    async with sessions.begin() as session:
        for history in histories:
            state = state_at(history, now)
            session.add(
                Customer(
                    id=history.customer_id,
                    external_id=f"ext-{history.customer_id}",
                    status=state.status or "trialing",
                    plan=state.plan or "starter",
                    interval=state.interval,
                    created_at=history.ledger[0].occurred_at,
                    updated_at=now,
                )
            )
    async with sessions.begin() as session:
        for history in histories:
            for n, row in enumerate(history.ledger):
                await append_row(session, row, event_key=f"{row.customer_id}:{n}", recorded_at=now)
        usage = [
            {"customer_id": h.customer_id, "metric": metric, "day": week, "quantity": quantity}
            for h in histories
            for (metric, week), quantity in h.weekly_usage.items()
        ]
        for start in range(0, len(usage), 2000):
            await session.execute(insert(UsageDaily).values(usage[start : start + 2000]))
