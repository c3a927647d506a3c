"""The seeded customers' usage, as their app backend would have reported it.

Written after the lifecycle (which the real workflows made): daily totals and the period
counters, for every day a customer was trialing or paying, from a small behaviour model so
the analytics have something true to find:

- each customer uses a share of its plan's messages (25-85 % of the limit), tokens and API
  calls in proportion;
- two in three work on weekdays (weekends at a quarter), the others every day;
- usage drifts a little week to week (a few percent, up or down);
- a customer who is about to leave voluntarily (a cancellation, scheduled or at once, or a
  pause) uses less and less over the five weeks before it: down to a quarter. Dunning
  churn (a card that fails) does not change usage.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select

from db.engine import SessionFactory
from db.models import Customer, UsageCounter, UsageDaily
from db.reporting import load_ledger
from domain.catalog import Catalog
from domain.months import add_months
from domain.reporting.ledger import LedgerRow, involuntary_cancel

ACTIVE = frozenset({"trialing", "active", "past_due"})
DECLINE_DAYS = 35
# Per message: tokens and API calls.
TOKENS_PER_MESSAGE = 350
CALLS_PER_MESSAGE = 0.4


def _leaving_days(rows: list[LedgerRow]) -> list[date]:
    """Days the customer decided to leave voluntarily."""
    return [
        r.occurred_at.date()
        for r in rows
        if r.kind in ("cancellation_scheduled", "subscription_paused")
        or (r.to_status == "canceled" and r.from_status != "canceled" and not involuntary_cancel(r))
    ]


def _periods(rows: list[LedgerRow], end: datetime) -> list[tuple[datetime, datetime]]:
    """Billing periods from the first paid moment (the trial window before it)."""
    periods = []
    trial = next((r.occurred_at for r in rows if r.to_status == "trialing"), None)
    paid = next((r for r in rows if r.to_status == "active"), None)
    if trial is not None:
        periods.append((trial, paid.occurred_at if paid else end))
    if paid is not None:
        months = 12 if paid.interval == "year" else 1
        start = paid.occurred_at
        while start < end:
            following = add_months(start, months)
            periods.append((start, following))
            start = following
    return periods


def daily_usage(
    rows: list[LedgerRow], catalog: Catalog, rng: random.Random, end: datetime
) -> dict[tuple[str, date], int]:
    """One customer's (metric, day) -> quantity."""
    if not rows:
        return {}
    plan = catalog.plans.get(rows[-1].plan or "starter") or catalog.plans["starter"]
    limit = plan.limits.get("messages") or 50_000
    level = limit * rng.uniform(0.25, 0.85) / 30
    weekend = 0.25 if rng.random() < 2 / 3 else 1.0
    drift = rng.gauss(0.005, 0.01)
    leaving = _leaving_days(rows)
    usage: dict[tuple[str, date], int] = {}
    status = None
    index = 0
    day = rows[0].occurred_at.date()
    while day < end.date():
        while index < len(rows) and rows[index].occurred_at.date() <= day:
            if rows[index].to_status is not None:
                status = rows[index].to_status
            index += 1
        if status in ACTIVE:
            weeks = (day - rows[0].occurred_at.date()).days / 7
            value = level * (1 + drift) ** weeks * (weekend if day.weekday() >= 5 else 1.0)
            ahead = [d for d in leaving if d >= day]
            if ahead and (ahead[0] - day).days < DECLINE_DAYS:
                value *= 0.25 + 0.75 * (ahead[0] - day).days / DECLINE_DAYS
            messages = max(0, round(rng.gauss(value, value * 0.15)))
            if messages:
                usage[("messages", day)] = messages
                usage[("tokens", day)] = messages * TOKENS_PER_MESSAGE
                usage[("api_calls", day)] = max(1, round(messages * CALLS_PER_MESSAGE))
        day += timedelta(days=1)
    return usage


async def seed_usage(
    sessions: SessionFactory, catalog: Catalog, *, prefix: str, seed: int, end: datetime
) -> int:
    """Write the seeded customers' usage; answers the number of daily rows."""
    async with sessions() as session:
        ids = list(
            await session.scalars(
                select(Customer.id).where(Customer.external_id.like(f"{prefix}%"))
            )
        )
        ledger = await load_ledger(session, end=end, customer_ids=ids)
    by_customer: dict[str, list[LedgerRow]] = defaultdict(list)
    for row in ledger:
        if row.customer_id is not None:
            by_customer[row.customer_id].append(row)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    daily_rows: list[dict[str, object]] = []
    counter_rows: list[dict[str, object]] = []
    for cid in sorted(by_customer):
        rows = by_customer[cid]
        usage = daily_usage(rows, catalog, rng, end)
        daily_rows += [
            {"customer_id": cid, "metric": m, "day": d, "quantity": q}
            for (m, d), q in usage.items()
        ]
        periods = _periods(rows, end)
        starts = [start.date() for start, _ in periods]
        totals: dict[tuple[str, int], int] = defaultdict(int)
        for (metric, day), quantity in usage.items():
            at = bisect_right(starts, day) - 1
            if at >= 0 and day < periods[at][1].date():
                totals[(metric, at)] += quantity
        counter_rows += [
            {
                "customer_id": cid,
                "metric": metric,
                "period_start": periods[at][0],
                "period_end": periods[at][1],
                "used": used,
                "updated_at": now,
            }
            for (metric, at), used in sorted(totals.items())
        ]
    async with sessions.begin() as session:
        for chunk in range(0, len(daily_rows), 5000):
            await session.execute(insert(UsageDaily), daily_rows[chunk : chunk + 5000])
        for chunk in range(0, len(counter_rows), 5000):
            await session.execute(insert(UsageCounter), counter_rows[chunk : chunk + 5000])
    return len(daily_rows)
