"""Churn and dunning (``domain.reporting.churn``) on the scripted history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.reporting.ledger import MovementType
from domain.reporting.report import Report, compute_report
from tests.factories.reporting import END, Script


def test_churn_per_month(report: Report) -> None:
    rows = [
        (
            m.month,
            m.paying_customers_at_start,
            m.mrr_at_start_cents,
            m.churned_customers,
            m.churned_mrr_cents,
            m.contraction_mrr_cents,
            m.logo_churn_rate,
            m.revenue_churn_rate,
        )
        for m in report.churn.months
    ]
    assert rows == [
        # Jan: A alone pays at the start; nothing lost.
        ("2026-01", 1, 2900, 0, 0, 0, Decimal("0.0000"), Decimal("0.0000")),
        # Feb: A B C D E F pay (36915); F pauses, D is lost to dunning: 2 / 6 = 0.3333;
        # 5800 / 36915 = 0.15712 -> 0.1571.
        ("2026-02", 6, 36915, 2, 5800, 0, Decimal("0.3333"), Decimal("0.1571")),
        # Mar: A B C E G pay (9900 + 9900 + 9265 + 9900 + 2900 = 41865); E cancels (9900),
        # B contracts (7000): 1 / 5 = 0.2; 16900 / 41865 = 0.40368 -> 0.4037.
        ("2026-03", 5, 41865, 1, 9900, 7000, Decimal("0.2000"), Decimal("0.4037")),
        # Apr: A B C F G J pay (37765); nothing lost.
        ("2026-04", 6, 37765, 0, 0, 0, Decimal("0.0000"), Decimal("0.0000")),
    ]
    assert [m.partial for m in report.churn.months] == [False] * 4
    feb, mar = report.churn.months[1], report.churn.months[2]
    # Feb: F's pause is voluntary, D's dunning loss involuntary.
    assert (
        feb.voluntary_churned_customers,
        feb.voluntary_churned_mrr_cents,
        feb.involuntary_churned_customers,
        feb.involuntary_churned_mrr_cents,
    ) == (1, 2900, 1, 2900)
    assert (mar.voluntary_churned_customers, mar.voluntary_churned_mrr_cents) == (1, 9900)
    assert (mar.involuntary_churned_customers, mar.involuntary_churned_mrr_cents) == (0, 0)
    # Dunning: Feb: D and E fail; E recovers, D is exhausted: 1 / 2. Apr: B fails, still
    # in dunning at the end: no episode ended, no rate.
    assert [
        (m.dunning_started, m.dunning_recovered, m.dunning_exhausted, m.dunning_recovery_rate)
        for m in report.churn.months
    ] == [
        (0, 0, 0, None),
        (2, 1, 1, Decimal("0.5000")),
        (0, 0, 0, None),
        (1, 0, 0, None),
    ]


def test_churn_over_the_range_pools_the_months(report: Report) -> None:
    churn = report.churn
    # Logo: (0 + 2 + 1 + 0) / (1 + 6 + 5 + 6) = 3 / 18 = 0.16666 -> 0.1667.
    assert churn.logo_churn_rate == Decimal("0.1667") == report.logo_churn_rate
    # Revenue: (5800 + 16900) / (2900 + 36915 + 41865 + 37765) = 22700 / 119445
    # = 0.190045 -> 0.1900.
    assert 2900 + 36915 + 41865 + 37765 == 119445
    assert churn.revenue_churn_rate == Decimal("0.1900") == report.revenue_churn_rate
    assert (churn.churned_customers, churn.churned_mrr_cents, churn.contraction_mrr_cents) == (
        3,
        15700,
        7000,
    )
    assert (churn.voluntary_churned_customers, churn.voluntary_churned_mrr_cents) == (2, 12800)
    assert (churn.involuntary_churned_customers, churn.involuntary_churned_mrr_cents) == (1, 2900)
    # Dunning recovery: 1 recovered / (1 + 1 exhausted).
    assert (churn.dunning_started, churn.dunning_recovered, churn.dunning_exhausted) == (3, 1, 1)
    assert churn.dunning_recovery_rate == Decimal("0.5000")


def test_range_start_mid_month_clips_the_first_month(script: Script) -> None:
    report = compute_report(
        script.rows, script.invoices, start=datetime(2026, 2, 15, tzinfo=UTC), end=END
    )
    first = report.churn.months[0]
    assert (first.month, first.partial, first.window_start) == (
        "2026-02",
        True,
        datetime(2026, 2, 15, tzinfo=UTC),
    )
    # Paying at Feb 15: A B C D E (F paused 02-10): 9900 + 9900 + 9265 + 2900 + 9900.
    assert (first.paying_customers_at_start, first.mrr_at_start_cents) == (5, 41865)
    # Movements from Feb 15: G new, D churned, then March and April as before.
    assert report.movements.cents(MovementType.NEW) == 2900 + 9900
    assert report.movements.starting_mrr_cents == 41865
