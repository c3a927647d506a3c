"""Calendar buckets of the reports (``domain.reporting.periods``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.months import add_months
from domain.reporting.periods import Granularity, windows


def test_calendar_helpers() -> None:
    assert add_months(datetime(2026, 3, 31, 9, tzinfo=UTC), -1) == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert add_months(datetime(2026, 1, 15, tzinfo=UTC), 12) == datetime(2027, 1, 15, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 1, tzinfo=UTC), 1) == datetime(2027, 1, 1, tzinfo=UTC)
    cut = windows(
        datetime(2026, 1, 20, tzinfo=UTC),
        datetime(2026, 3, 1, 6, tzinfo=UTC),
        Granularity.MONTH,
    )
    assert [(w.label, w.partial) for w in cut] == [
        ("2026-01", True),
        ("2026-02", False),
        ("2026-03", True),
    ]
    assert cut[-1].end - cut[-1].start == timedelta(hours=6)
