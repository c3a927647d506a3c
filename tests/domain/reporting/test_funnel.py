"""The trial funnel (``domain.reporting.funnel``) on the scripted history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.reporting.report import Report


def test_trial_funnel(report: Report) -> None:
    funnel = report.funnel.counts
    # Trials started in the range: B C D E F (Jan), G H J (Feb), I (Apr) = 9 (A: December).
    assert funnel.started == 9
    # Converted by May 1: B C D E F within the trial, G via win-back (2 sent), J after
    # expiry (none sent yet).
    assert (
        funnel.converted,
        funnel.converted_within_trial,
        funnel.converted_via_winback,
        funnel.converted_after_expiry,
    ) == (7, 5, 1, 1)
    # Expired: G H J; of those only H never converted; I is still trialing.
    assert (funnel.expired, funnel.expired_unconverted, funnel.in_trial) == (3, 1, 1)
    # 7 / 9 = 0.77777... -> 0.7778.
    assert funnel.conversion_rate == Decimal("0.7778")
    # Days to convert: B 7, C 9, D 12, E 12, F 13, G 24, J 16 (Feb 20 -> Mar 8);
    # sorted 7 9 12 12 13 16 24, median 12.
    assert funnel.median_days_to_convert == Decimal("12.00")
    assert report.trial_conversion_rate == Decimal("0.7778")


def test_trial_conversion_by_weekly_cohort(report: Report) -> None:
    cohorts = [
        (
            c.week,
            c.week_start,
            c.counts.started,
            c.counts.converted,
            c.counts.conversion_rate,
            c.counts.median_days_to_convert,
        )
        for c in report.funnel.cohorts
    ]
    # 2026-01-01 is a Thursday: week 2 starts Monday 01-05.
    assert cohorts == [
        # B C D E (01-05 .. 01-10), all converted: days 7 9 12 12, median (9 + 12) / 2.
        ("2026-W02", date(2026, 1, 5), 4, 4, Decimal("1.0000"), Decimal("10.50")),
        # F (01-12).
        ("2026-W03", date(2026, 1, 12), 1, 1, Decimal("1.0000"), Decimal("13.00")),
        # G H (02-02, 02-03): G converted.
        ("2026-W06", date(2026, 2, 2), 2, 1, Decimal("0.5000"), Decimal("24.00")),
        # J (02-20).
        ("2026-W08", date(2026, 2, 16), 1, 1, Decimal("1.0000"), Decimal("16.00")),
        # I (04-25), still trialing.
        ("2026-W17", date(2026, 4, 20), 1, 0, Decimal("0.0000"), None),
    ]
