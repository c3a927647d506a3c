"""ARPU, LTV and the empty report (``domain.reporting.report``)."""

from __future__ import annotations

from domain.reporting.report import Report, compute_report
from tests.factories.reporting import END, START


def test_arpu_and_ltv(report: Report) -> None:
    # ARPU = 38765 / 6 = 6460.83 -> 6461.
    assert report.arpu_cents == 6461
    # Monthly revenue churn, pooled (see the churn test): 22700 / 119445.
    # LTV = (38765 / 6) / (22700 / 119445) = 38765 * 119445 / 136200
    #     = 4,630,285,425 / 136,200 = 33996.22 -> 33996.
    assert 38765 * 119445 == 4_630_285_425
    assert report.ltv_cents == 33996


def test_empty_history_has_no_rates() -> None:
    report = compute_report([], start=START, end=END)
    assert (report.mrr_cents, report.arpu_cents, report.ltv_cents) == (0, None, None)
    assert report.trial_conversion_rate is None
    assert report.logo_churn_rate is None and report.revenue_churn_rate is None
    assert [p.mrr_cents for p in report.mrr_series] == [0, 0, 0, 0]
