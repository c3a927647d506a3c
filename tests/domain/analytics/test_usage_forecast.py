"""The period-end forecast on a planted weekly rhythm: the weekday forecast follows it
where the straight line does not, wins the backtest, and its interval holds the outcome."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from domain.analytics.usage_forecast import STRAIGHT_LINE, WEEKDAY, backtest, usage_forecast
from domain.limits import Period, forecast

# A Monday; periods of 30 days from here.
START = datetime(2026, 6, 1, tzinfo=UTC)


def rhythm(days: int, *, noise: float = 0.0, seed: int = 3) -> dict[date, int]:
    """100 messages each weekday, none at weekends (with some noise)."""
    rng = random.Random(seed)
    usage = {}
    for n in range(days):
        day = (START + timedelta(days=n)).date()
        if day.weekday() < 5:
            usage[day] = max(0, round(rng.gauss(100, 100 * noise)))
    return usage


def periods(count: int) -> list[Period]:
    return [
        Period(START + timedelta(days=30 * n), START + timedelta(days=30 * (n + 1)))
        for n in range(count)
    ]


def test_the_weekday_forecast_follows_the_week_and_wins_the_backtest() -> None:
    daily = rhythm(30 * 5)
    # The first period has no four weeks before its midpoint: three count.
    past, [current] = periods(4), periods(5)[4:]
    # A Saturday, midnight, some weeks into the period: the week's work is done.
    now = current.start + timedelta(days=14)
    while now.weekday() != 5:
        now += timedelta(days=1)
    used = sum(v for d, v in daily.items() if current.start.date() <= d < now.date())
    actual = sum(v for d, v in daily.items() if current.start.date() <= d < current.end.date())
    result = usage_forecast("messages", used, daily, current, now, past)
    assert result.method == WEEKDAY and result.backtest_periods == 3
    assert result.point == actual
    # The straight line counts the weekend as if it were worked: a day of usage too many.
    assert forecast("messages", used, current, now) >= actual + 100
    assert result.backtest[WEEKDAY] < result.backtest[STRAIGHT_LINE]


def test_the_interval_holds_the_outcome_on_noisy_usage() -> None:
    daily = rhythm(30 * 5, noise=0.3)
    past, [current] = periods(4), periods(5)[4:]
    now = current.start + timedelta(days=12, hours=12)
    used = sum(v for d, v in daily.items() if current.start.date() <= d < now.date())
    actual = sum(v for d, v in daily.items() if current.start.date() <= d < current.end.date())
    result = usage_forecast("messages", used, daily, current, now, past)
    assert result.low <= result.point <= result.high
    assert result.low < actual < result.high
    assert result.high - result.low < 0.3 * actual


def test_without_two_past_periods_the_straight_line_stays() -> None:
    daily = rhythm(75)
    [first, second, current] = periods(3)
    now = current.start + timedelta(days=5)
    used = sum(v for d, v in daily.items() if current.start.date() <= d < now.date())
    result = usage_forecast("messages", used, daily, current, now, [first, second])
    assert result.method == STRAIGHT_LINE and result.backtest_periods == 1
    assert result.point == forecast("messages", used, current, now)
    assert backtest({}, [first], "messages") == ({}, 0)
