"""Revenue cohorts (``domain.reporting.cohorts``) on the scripted history."""

from __future__ import annotations

from domain.reporting.report import Report


def test_revenue_cohorts_from_paid_invoices(report: Report) -> None:
    cohorts = {c.month: c for c in report.cohorts}
    # First revenue in Jan: B C D E F; Feb: G; Mar: J. A's was in December: no cohort.
    assert [(c.month, c.customers) for c in report.cohorts] == [
        ("2026-01", 5),
        ("2026-02", 1),
        ("2026-03", 1),
    ]
    january = cohorts["2026-01"]
    # Paid, less refunds, cumulated:
    #   Jan: B 9900 - 2000 refunded, C 100980, D 2900, E 9900, F 2900      = 124580
    #   Feb: + B 9900, C 9350, E 9900 (paid 02-24 after a retry)           = 153730
    #   Mar: + B 2900, F 2900                                              = 159530
    #   Apr: + F 2900 (B's April invoice is unpaid)                        = 162430
    # Retained (MRR > 0 at month end): 5; then B C E (D lost, F paused); then B C F
    # (E canceled, F back); then B C F.
    assert [
        (
            m.offset,
            m.month,
            m.retained_customers,
            m.cumulative_revenue_cents,
            m.cumulative_revenue_per_customer_cents,
        )
        for m in january.months
    ] == [
        (0, "2026-01", 5, 124580, 24916),
        (1, "2026-02", 3, 153730, 30746),
        (2, "2026-03", 3, 159530, 31906),
        (3, "2026-04", 3, 162430, 32486),
    ]
    assert (january.revenue_cents, january.revenue_per_customer_cents) == (162430, 32486)
    # G: 2320 (win-back coupon), 2900, 2900.
    assert [m.cumulative_revenue_cents for m in cohorts["2026-02"].months] == [2320, 5220, 8120]
    # J: 9900, 9900.
    assert [m.cumulative_revenue_cents for m in cohorts["2026-03"].months] == [9900, 19800]
