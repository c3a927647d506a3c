"""Customers per status over time (``domain.reporting.statuses``) on the scripted history."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.reporting.periods import Granularity
from domain.reporting.report import Report, compute_report
from tests.factories.reporting import Script


def test_lifecycle_counts_per_month(report: Report) -> None:
    points = [(p.period, p.at, dict(p.counts), p.total) for p in report.lifecycle]
    counts = ("trialing", "trial_expired", "active", "past_due", "paused", "canceled")

    def c(*values: int) -> dict[str, int]:
        return dict(zip(counts, values, strict=True))

    assert points == [
        # Feb 1: A B C D E F active.
        ("2026-01", datetime(2026, 2, 1, tzinfo=UTC), c(0, 0, 6, 0, 0, 0), 6),
        # Mar 1: J trialing; H expired; A B C E G active; F paused; D canceled.
        ("2026-02", datetime(2026, 3, 1, tzinfo=UTC), c(1, 1, 5, 0, 1, 1), 9),
        # Apr 1: H expired; A B C F G J active; D E canceled.
        ("2026-03", datetime(2026, 4, 1, tzinfo=UTC), c(0, 1, 6, 0, 0, 2), 9),
        # May 1: I trialing; H expired; A C F G J active; B past due; D E canceled.
        ("2026-04", datetime(2026, 5, 1, tzinfo=UTC), c(1, 1, 5, 1, 0, 2), 10),
    ]


def test_lifecycle_by_week_and_day(script: Script) -> None:
    # Feb 9 .. Feb 18, by week: the week of Feb 9 (full) and of Feb 16 (cut at Feb 18).
    weekly = compute_report(
        script.rows,
        start=datetime(2026, 2, 9, tzinfo=UTC),
        end=datetime(2026, 2, 18, tzinfo=UTC),
        granularity=Granularity.WEEK,
    )
    assert [(p.period, p.at) for p in weekly.lifecycle] == [
        ("2026-W07", datetime(2026, 2, 16, tzinfo=UTC)),
        ("2026-W08", datetime(2026, 2, 18, tzinfo=UTC)),
    ]
    # Feb 16: F paused (02-10); G H trialing; A B C D E active.
    assert weekly.lifecycle[0].counts["paused"] == 1
    assert weekly.lifecycle[0].counts["trialing"] == 2
    # Feb 18: G (02-16) and H (02-17) have expired.
    assert weekly.lifecycle[1].counts["trial_expired"] == 2
    daily = compute_report(
        script.rows,
        start=datetime(2026, 2, 16, tzinfo=UTC),
        end=datetime(2026, 2, 18, tzinfo=UTC),
        granularity=Granularity.DAY,
    )
    assert [
        (p.period, p.counts["trialing"], p.counts["trial_expired"]) for p in daily.lifecycle
    ] == [
        ("2026-02-16", 1, 1),
        ("2026-02-17", 0, 2),
    ]
