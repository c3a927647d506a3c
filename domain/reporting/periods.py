"""Calendar buckets of the reports, in UTC.

* Time. Every range is half-open, ``[start, end)``, in UTC. "The state at t" is the state
  after every ledger row with ``occurred_at < t``. Calendar buckets (day, ISO week starting
  Monday, month) are UTC; a bucket cut by the range is clipped to it (``partial``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from domain.months import add_months


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _bucket_start(value: datetime, unit: Granularity) -> datetime:
    day = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit is Granularity.DAY:
        return day
    if unit is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_bucket(start: datetime, unit: Granularity) -> datetime:
    if unit is Granularity.DAY:
        return start + timedelta(days=1)
    if unit is Granularity.WEEK:
        return start + timedelta(days=7)
    return add_months(start, 1)


def iso_week(value: datetime | date) -> str:
    year, week, _ = value.isocalendar()
    return f"{year}-W{week:02d}"


def _label(start: datetime, unit: Granularity) -> str:
    if unit is Granularity.DAY:
        return start.date().isoformat()
    if unit is Granularity.WEEK:
        return iso_week(start)
    return f"{start.year:04d}-{start.month:02d}"


def month_label(value: datetime) -> str:
    return f"{value.year:04d}-{value.month:02d}"


@dataclass(frozen=True)
class Window:
    label: str
    bucket_start: datetime
    bucket_end: datetime
    # The bucket clipped to the range.
    start: datetime
    end: datetime

    @property
    def partial(self) -> bool:
        return (self.start, self.end) != (self.bucket_start, self.bucket_end)


def windows(start: datetime, end: datetime, unit: Granularity) -> list[Window]:
    """The calendar buckets overlapping [start, end), each clipped to the range."""
    found = []
    bucket = _bucket_start(start, unit)
    while bucket < end:
        following = _next_bucket(bucket, unit)
        found.append(
            Window(_label(bucket, unit), bucket, following, max(bucket, start), min(following, end))
        )
        bucket = following
    return found
