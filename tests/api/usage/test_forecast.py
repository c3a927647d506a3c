"""GET /v1/customers/{id}/usage forecasts the period end by the method that did better on
the customer's own past periods: a customer who works on weekdays only gets the weekday
forecast (and an interval), a customer without past periods the straight line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from db.engine import SessionFactory
from db.models import UsageCounter, UsageDaily
from tests.factories.customers import NewCustomer
from tests.factories.usage import usage


async def test_a_weekday_rhythm_gets_the_weekday_forecast(
    http: httpx.AsyncClient, sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    now = datetime.now(UTC)
    today = now.date()
    start = datetime.combine(today - timedelta(days=10), datetime.min.time(), UTC)
    end = start + timedelta(days=30)
    cid = await new_customer(
        status="active", plan="pro", interval="month", period_start=start, period_end=end
    )
    starts = [start - timedelta(days=30 * n) for n in range(4, -1, -1)]
    async with sessions.begin() as session:
        first = (starts[0] - timedelta(days=28)).date()
        day = first
        while day < today:
            if day.weekday() < 5:
                session.add(UsageDaily(customer_id=cid, metric="messages", day=day, quantity=100))
            day += timedelta(days=1)
        for a, b in zip(starts, [*starts[1:], end], strict=True):
            used = sum(
                100
                for n in range((b.date() - a.date()).days)
                if (a.date() + timedelta(days=n)).weekday() < 5
                and a.date() + timedelta(days=n) < today
            )
            session.add(
                UsageCounter(
                    customer_id=cid,
                    metric="messages",
                    period_start=a,
                    period_end=b,
                    used=used,
                    updated_at=now,
                )
            )
    messages = (await usage(http, cid))["messages"]
    assert messages["forecast_method"] == "weekday"
    assert messages["forecast_backtest"]["weekday"] < messages["forecast_backtest"]["straight_line"]
    rest = [today + timedelta(days=n) for n in range((end.date() - today).days) if n >= 0]
    weekdays_left = sum(1 for d in rest if d.weekday() < 5)
    left_today = 1 - (now - datetime.combine(today, datetime.min.time(), UTC)) / timedelta(days=1)
    expected = messages["used"] + round(
        100 * (weekdays_left - (1 - left_today if today.weekday() < 5 else 0))
    )
    assert abs(messages["forecast"] - expected) <= 1
    assert messages["forecast_low"] <= messages["forecast"] <= messages["forecast_high"]


async def test_without_past_periods_the_straight_line_stays(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    messages = (await usage(http, cid))["messages"]
    assert messages["forecast_method"] == "straight_line"
    assert messages["forecast_backtest"] == {}
    chatbots = (await usage(http, cid))["chatbots"]
    assert chatbots["forecast_method"] == "level"
