"""A metric's usage at the period end, with an interval, from its daily series.

The straight line (``domain.limits.forecast``: usage so far / time elapsed x period
length) ignores that usage follows the week: a customer busy on weekdays looks idle on a
Sunday morning and frantic on a Monday. The weekday forecast adds, to the usage so far,
each remaining day's mean for its weekday over the last four weeks. The 80 % interval
comes from resampling those days (the same weekday's values of the last four weeks), with
a fixed seed so one answer is the same answer.

Which one a customer's metric gets is measured, not assumed: both forecast each of its
last complete periods (up to three) from that period's midpoint, and the one with the
lower mean absolute percentage error wins (a period counts when four weeks of usage precede
its midpoint); with fewer than two such periods the straight line stays (nothing shows the
weekday one is better).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

import numpy as np

from domain.limits import CounterRecord, Period, forecast

LOOKBACK_DAYS = 28
SAMPLES = 2000
STRAIGHT_LINE = "straight_line"
WEEKDAY = "weekday"


@dataclass(frozen=True)
class UsageForecast:
    point: int
    low: int
    high: int
    method: str
    # Mean absolute percentage error of each method on the metric's past periods.
    backtest: dict[str, float]
    backtest_periods: int


def _remaining_days(period: Period, now: datetime) -> list[date]:
    """Whole days left in the period after today (today's remainder counts as a day)."""
    first, last = now.date(), (period.end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _weekday_samples(daily: Mapping[date, int], today: date) -> dict[int, list[int]]:
    samples: dict[int, list[int]] = {d: [] for d in range(7)}
    for n in range(1, LOOKBACK_DAYS + 1):
        day = today - timedelta(days=n)
        samples[day.weekday()].append(daily.get(day, 0))
    return samples


def _left_today(now: datetime) -> float:
    """The share of today still to come, by the clock."""
    midnight = datetime.combine(now.date(), datetime.min.time(), now.tzinfo)
    return 1 - (now - midnight) / timedelta(days=1)


def weekday_forecast(used: int, daily: Mapping[date, int], period: Period, now: datetime) -> int:
    samples = _weekday_samples(daily, now.date())
    left = _left_today(now)
    expected = sum(
        float(np.mean(samples[day.weekday()])) * (left if day == now.date() else 1.0)
        for day in _remaining_days(period, now)
    )
    return used + round(expected)


def _interval(daily: Mapping[date, int], period: Period, now: datetime) -> tuple[float, ...]:
    """Quantiles 10 %, 50 %, 90 % of what the remaining days add (resampled)."""
    samples = _weekday_samples(daily, now.date())
    left = _left_today(now)
    rng = np.random.default_rng(0)
    totals = np.zeros(SAMPLES)
    for day in _remaining_days(period, now):
        values = np.array(samples[day.weekday()], dtype=float)
        drawn = rng.choice(values, size=SAMPLES, replace=True)
        totals += drawn * (left if day == now.date() else 1.0)
    return tuple(float(q) for q in np.quantile(totals, [0.1, 0.5, 0.9]))


def backtest(
    daily: Mapping[date, int], periods: Sequence[Period], metric: str
) -> tuple[dict[str, float], int]:
    """Each method's MAPE on the complete ``periods``, forecasting from their midpoints."""
    errors: dict[str, list[float]] = {STRAIGHT_LINE: [], WEEKDAY: []}
    first = min(daily, default=None)
    for period in periods:
        middle = period.start + (period.end - period.start) / 2
        midnight = datetime.combine(middle.date(), datetime.min.time(), middle.tzinfo)
        if first is None or midnight.date() - timedelta(days=LOOKBACK_DAYS) < first:
            # Four weeks of history before the midpoint, or no fair test.
            continue
        days = [
            period.start.date() + timedelta(days=n)
            for n in range((period.end.date() - period.start.date()).days)
        ]
        actual = sum(daily.get(d, 0) for d in days)
        if actual <= 0:
            continue
        so_far = sum(daily.get(d, 0) for d in days if d < midnight.date())
        guesses = {
            STRAIGHT_LINE: forecast(metric, so_far, period, midnight),
            WEEKDAY: weekday_forecast(so_far, daily, period, midnight),
        }
        for method, guess in guesses.items():
            errors[method].append(abs(guess - actual) / actual)
    scored = len(errors[WEEKDAY])
    return (
        {m: round(sum(e) / len(e), 4) for m, e in errors.items() if e},
        scored,
    )


def usage_forecast(
    metric: str,
    used: int,
    daily: Mapping[date, int],
    period: Period,
    now: datetime,
    past_periods: Sequence[Period],
) -> UsageForecast:
    """The period-end forecast by the method that did better on this metric's past."""
    scores, scored = backtest(daily, past_periods, metric)
    method = (
        WEEKDAY
        if scored >= 2 and scores.get(WEEKDAY, 1e9) < scores.get(STRAIGHT_LINE, 1e9)
        else STRAIGHT_LINE
    )
    point = (
        weekday_forecast(used, daily, period, now)
        if method == WEEKDAY
        else forecast(metric, used, period, now)
    )
    low, middle, high = _interval(daily, period, now)
    # The resampled spread around the chosen point (never below what is used already).
    return UsageForecast(
        point=point,
        low=max(used, round(point + low - middle)),
        high=max(used, round(point + high - middle)),
        method=method,
        backtest=scores,
        backtest_periods=scored,
    )


def past_periods(counters: Sequence[CounterRecord], metric: str, current: Period) -> list[Period]:
    """The metric's complete periods before ``current`` (each ends where the next began),
    the latest three."""
    starts = sorted({c.period_start for c in counters if c.metric == metric} | {current.start})
    starts = [s for s in starts if s <= current.start]
    return [Period(a, b) for a, b in pairwise(starts)][-3:]
