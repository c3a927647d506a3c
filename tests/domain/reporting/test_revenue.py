"""Invoices, payments and refunds (``domain.reporting.revenue``)."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.reporting.ledger import LedgerRow
from domain.reporting.report import Report, compute_report


def test_payments_refunds_and_invoices(report: Report) -> None:
    # Paid in the range: A 2900 + 4750 + 9900 + 9900 + 1000 = 28450; B 9900 + 9900 + 2900;
    # C 100980 + 9350; D 2900; E 9900 + 9900; F 2900 x 3; G 2320 + 2900 + 2900;
    # J 9900 x 2. 21 payments.
    total = 28450 + 22700 + 110330 + 2900 + 19800 + 8700 + 8120 + 19800
    assert total == 220800
    assert (report.revenue.payments, report.revenue.payments_cents) == (21, 220800)
    assert (report.revenue.refunds, report.revenue.refunds_cents) == (1, 2000)
    assert report.revenue.net_revenue_cents == 218800
    # Invoices created in the range: all but A's December one (24 - 1), paid or not.
    assert len(report.invoices) == 23
    assert {i.status for i in report.invoices} == {"paid", "open", "uncollectible"}
    refund = report.refunds[0]
    assert (refund.customer_id, refund.invoice_id, refund.amount_refunded_cents) == (
        "B",
        "in_B_1",
        2000,
    )


def test_refunds_are_increments_of_the_cumulative_amount() -> None:
    def refund(day: int, cumulative: int, key: int) -> LedgerRow:
        return LedgerRow(
            customer_id="X",
            kind="charge_refunded",
            occurred_at=datetime(2026, 3, day, tzinfo=UTC),
            data={"charge_id": "ch_1", "amount_refunded_cents": cumulative},
            id=key,
        )

    report = compute_report(
        [refund(1, 500, 1), refund(2, 1200, 2), refund(3, 1200, 3)],
        start=datetime(2026, 3, 2, tzinfo=UTC),
        end=datetime(2026, 4, 1, tzinfo=UTC),
    )
    # 500 before the range; then +700; then a redelivery of the same total: +0.
    assert [r.amount_refunded_cents for r in report.refunds] == [700, 0]
    assert report.revenue.refunds_cents == 700
