"""Usage patterns on generated daily usage with a planted answer: the trend, the weekday
rhythm and the bursts are found, and two planted kinds of customers fall into two groups
described as they were made."""

from __future__ import annotations

import random
from datetime import date, timedelta

from domain.analytics.usage_patterns import group_customers, pattern_of

TODAY = date(2026, 12, 1)


def daily(
    *,
    weekly_growth: float = 0.0,
    weekend_factor: float = 1.0,
    level: float = 200.0,
    seed: int = 1,
    bursts: tuple[int, ...] = (),
) -> dict[date, int]:
    rng = random.Random(seed)
    usage = {}
    for n in range(84, 0, -1):
        day = TODAY - timedelta(days=n)
        weeks_ago = n / 7
        value = level * (1 + weekly_growth) ** (12 - weeks_ago)
        if day.weekday() >= 5:
            value *= weekend_factor
        usage[day] = max(0, int(rng.gauss(value, value * 0.1)))
    for n in bursts:
        usage[TODAY - timedelta(days=n)] *= 8
    return usage


def test_a_planted_trend_rhythm_and_burst_are_found() -> None:
    growing = pattern_of(daily(weekly_growth=0.08, weekend_factor=0.1, bursts=(14,)), TODAY)
    assert growing.trend == "growing"
    assert growing.weekly_change is not None and 0.05 < growing.weekly_change < 0.11
    assert growing.rhythm == "weekdays"
    assert growing.bursts == (TODAY - timedelta(days=14),)
    assert sum(growing.weekday_shares[5:]) < 0.1

    fading = pattern_of(daily(weekly_growth=-0.1, weekend_factor=3.0), TODAY)
    assert (fading.trend, fading.rhythm) == ("declining", "weekends")
    steady = pattern_of(daily(), TODAY)
    assert (steady.trend, steady.rhythm, steady.bursts) == ("flat", "every day", ())


def test_too_little_usage_is_unknown_not_a_guess() -> None:
    sparse = {TODAY - timedelta(days=3): 50, TODAY - timedelta(days=40): 20}
    pattern = pattern_of(sparse, TODAY)
    assert (pattern.trend, pattern.weekly_change, pattern.rhythm) == ("unknown", None, "unknown")
    assert group_customers({"a": pattern}).note.startswith("0 customers")


def test_two_planted_kinds_of_customers_make_two_described_groups() -> None:
    patterns = {}
    for n in range(20):
        patterns[f"office-{n}"] = pattern_of(
            daily(weekly_growth=0.06, weekend_factor=0.05, level=100 + 10 * n, seed=n), TODAY
        )
        patterns[f"hobby-{n}"] = pattern_of(
            daily(weekly_growth=-0.08, weekend_factor=4.0, level=50 + n, seed=100 + n), TODAY
        )
    grouping = group_customers(patterns)
    assert grouping.k == 2 and grouping.silhouette is not None and grouping.silhouette > 0.5
    office = {grouping.members[f"office-{n}"] for n in range(20)}
    hobby = {grouping.members[f"hobby-{n}"] for n in range(20)}
    assert len(office) == len(hobby) == 1 and office != hobby
    described = {g.group: g for g in grouping.groups}
    [o], [h] = office, hobby
    assert (described[o].trend, described[o].rhythm) == ("growing", "weekdays")
    assert (described[h].trend, described[h].rhythm) == ("declining", "weekends")
    assert "growing usage, mostly on weekdays" in described[o].description
    assert described[o].customers == described[h].customers == 20
