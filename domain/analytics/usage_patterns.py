"""How customers use the product: per customer, the trend, the weekday rhythm and the
bursts of its messages over the last twelve weeks; across customers, groups of the same
usage shape.

* **Trend:** least squares on the log of weekly messages (SciPy ``linregress``): growing or
  declining when the fitted change is at least 3 % a week and significant (p < 0.05),
  flat otherwise; under four weeks with usage, unknown.
* **Weekday rhythm** (with two weeks of active days at least): messages per weekday
  against an even spread (chi-square, p < 0.01):
  "weekdays" when Saturday and Sunday together take under half their even share,
  "weekends" when over one and a half times it, else "every day".
* **Bursts:** days above the median plus five median absolute deviations, and at least
  twice the median (a robust rule: one burst does not hide the next).
* **Limits reached:** the metrics whose counter entered the grace band in the last three
  periods.
* **Groups:** k-means (scikit-learn) on each customer's usage shape: twelve weekly totals
  divided by their mean, then the seven weekday shares; the number of groups k (2 to 6) is
  the one with the best silhouette score, stated with it. Each group is described from its
  centre (trend, rhythm, steadiness) in words an admin reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

import numpy as np
from scipy.stats import chisquare, linregress
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from domain.limits import COUNTERS, CounterRecord

WEEKS = 12
MIN_WEEKS = 4
TREND_PER_WEEK = 0.03
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_CUSTOMERS_TO_GROUP = 12


@dataclass(frozen=True)
class UsagePattern:
    # growing | flat | declining | unknown (too little usage)
    trend: str
    # Fitted change per week (0.05: +5 % a week); None when unknown.
    weekly_change: float | None
    # weekdays | weekends | every day | unknown
    rhythm: str
    weekday_shares: tuple[float, ...]
    bursts: tuple[date, ...]
    weekly_messages: tuple[int, ...]


def weekly_totals(daily: Mapping[date, int], today: date) -> list[int]:
    """The twelve full weeks before ``today``, oldest first."""
    return [
        sum(daily.get(today - timedelta(days=7 * (WEEKS - w) - d), 0) for d in range(1, 8))
        for w in range(WEEKS)
    ]


def pattern_of(daily: Mapping[date, int], today: date) -> UsagePattern:
    """A customer's pattern from its daily messages (days before ``today`` only)."""
    weeks = weekly_totals(daily, today)
    days = [today - timedelta(days=n) for n in range(WEEKS * 7, 0, -1)]
    values = [daily.get(day, 0) for day in days]
    shares = _weekday_shares(days, values)
    trend, change = _trend(weeks)
    return UsagePattern(
        trend=trend,
        weekly_change=change,
        rhythm=_rhythm(days, values),
        weekday_shares=shares,
        bursts=_bursts(days, values),
        weekly_messages=tuple(weeks),
    )


def _trend(weeks: Sequence[int]) -> tuple[str, float | None]:
    used = [(n, w) for n, w in enumerate(weeks) if w > 0]
    if len(used) < MIN_WEEKS:
        return "unknown", None
    fit = linregress(range(len(weeks)), [math.log1p(w) for w in weeks])
    change = math.expm1(fit.slope)
    if fit.pvalue < 0.05 and change >= TREND_PER_WEEK:
        return "growing", round(change, 4)
    if fit.pvalue < 0.05 and change <= -TREND_PER_WEEK:
        return "declining", round(change, 4)
    return "flat", round(change, 4)


def _weekday_totals(days: Sequence[date], values: Sequence[int]) -> list[int]:
    totals = [0] * 7
    for day, value in zip(days, values, strict=True):
        totals[day.weekday()] += value
    return totals


def _weekday_shares(days: Sequence[date], values: Sequence[int]) -> tuple[float, ...]:
    totals = _weekday_totals(days, values)
    whole = sum(totals)
    return tuple(round(t / whole, 4) if whole else 0.0 for t in totals)


def _rhythm(days: Sequence[date], values: Sequence[int]) -> str:
    totals = _weekday_totals(days, values)
    # Two weeks of active days at least: a handful of days has no rhythm to read.
    if sum(1 for v in values if v > 0) < 14:
        return "unknown"
    if chisquare(totals).pvalue >= 0.01:
        return "every day"
    return _rhythm_of((totals[5] + totals[6]) / sum(totals))


def _rhythm_of(weekend_share: float) -> str:
    """Saturday and Sunday under half their even share (2/7): weekdays; over one and a
    half times it: weekends."""
    if weekend_share < 0.5 * 2 / 7:
        return "weekdays"
    if weekend_share > 1.5 * 2 / 7:
        return "weekends"
    return "every day"


def _bursts(days: Sequence[date], values: Sequence[int]) -> tuple[date, ...]:
    active = [v for v in values if v > 0]
    if len(active) < 14:
        return ()
    middle = median(active)
    spread = median(abs(v - middle) for v in active) or 1
    return tuple(
        day
        for day, value in zip(days, values, strict=True)
        if value > middle + 5 * spread and value >= 2 * middle
    )


def limits_reached(counters: Sequence[CounterRecord], periods: int = 3) -> set[str]:
    """Metrics whose counter reached the grace band in the last ``periods`` periods."""
    starts = sorted({c.period_start for c in counters if c.metric in COUNTERS}, reverse=True)
    recent = set(starts[:periods])
    return {c.metric for c in counters if c.period_start in recent and c.grace_reached}


# -- groups of customers by usage shape ----------------------------------------------------


@dataclass(frozen=True)
class UsageGroup:
    group: int
    description: str
    customers: int
    trend: str
    rhythm: str
    median_weekly_messages: int


@dataclass(frozen=True)
class Grouping:
    groups: tuple[UsageGroup, ...]
    # customer id -> group
    members: dict[str, int]
    k: int
    silhouette: float | None
    # Why there are no groups, when there are none.
    note: str = ""


def shape(pattern: UsagePattern) -> list[float] | None:
    weeks = pattern.weekly_messages
    mean = sum(weeks) / len(weeks)
    if mean <= 0 or sum(1 for w in weeks if w > 0) < MIN_WEEKS:
        return None
    return [w / mean for w in weeks] + list(pattern.weekday_shares)


# Silhouette scores compare every pair of customers (quadratic: 10,000 customers take
# seconds per k, 100,000 minutes); a fixed-seed sample of this many gives the same choice of
# k within noise.
SILHOUETTE_SAMPLE = 4_000


def group_customers(patterns: Mapping[str, UsagePattern], *, seed: int = 0) -> Grouping:
    """Customers with enough usage, grouped by shape; k by the best silhouette score."""
    ids = sorted(cid for cid, p in patterns.items() if shape(p) is not None)
    if len(ids) < MIN_CUSTOMERS_TO_GROUP:
        return Grouping(
            (), {}, 0, None, f"{len(ids)} customers with four weeks of usage: too few to group"
        )
    matrix = np.array([shape(patterns[cid]) for cid in ids], dtype=float)
    best: tuple[float, int, np.ndarray] | None = None
    for k in range(2, min(6, len(ids) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(matrix)
        if len(set(labels)) < 2:
            continue
        sample = min(len(ids), SILHOUETTE_SAMPLE)
        score = float(silhouette_score(matrix, labels, sample_size=sample, random_state=seed))
        if best is None or score > best[0]:
            best = (score, k, labels)
    if best is None:
        return Grouping((), {}, 0, None, "every customer has the same usage shape")
    score, k, labels = best
    members = {cid: int(label) for cid, label in zip(ids, labels, strict=True)}
    groups = []
    for group in range(k):
        rows = [n for n, label in enumerate(labels) if label == group]
        centre = matrix[rows].mean(axis=0)
        weekly = [sum(patterns[ids[n]].weekly_messages) / WEEKS for n in rows]
        groups.append(_describe(group, centre, len(rows), int(median(weekly))))
    return Grouping(tuple(groups), members, k, round(score, 4))


def _describe(group: int, centre: np.ndarray, size: int, level: int) -> UsageGroup:
    weeks = [float(v) for v in centre[:WEEKS]]
    shares = [float(v) for v in centre[WEEKS:]]
    slope = float(np.polyfit(range(WEEKS), weeks, 1)[0])
    trend = "growing" if slope >= 0.02 else "declining" if slope <= -0.02 else "flat"
    rhythm = _rhythm_of(shares[5] + shares[6])
    steadiness = "steady" if float(np.std(weeks)) < 0.25 else "uneven"
    description = (
        f"{trend} usage, {'mostly on ' + rhythm if rhythm != 'every day' else 'every day'}, "
        f"{steadiness} week to week (median {level:,} messages a week)"
    )
    return UsageGroup(group, description, size, trend, rhythm, level)
