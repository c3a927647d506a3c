"""Revenue cohorts: customers grouped by the month of their first revenue.

* Revenue cohorts: customers by the calendar month of their first revenue (their first
  ``new`` movement) in the range. Revenue = paid invoices (``amount_paid_cents`` at
  ``paid_at``) less refunds, cumulated to the end of each month since the cohort month;
  retained = recurring MRR > 0 at the end of that month.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from domain.money import round_fraction_half_up
from domain.months import add_months
from domain.reporting.ledger import Scope, Step
from domain.reporting.periods import month_label
from domain.reporting.revenue import Payment, Refund


@dataclass(frozen=True)
class CohortMonth:
    offset: int
    month: str
    retained_customers: int
    cumulative_revenue_cents: int
    cumulative_revenue_per_customer_cents: int


@dataclass(frozen=True)
class RevenueCohort:
    month: str
    customers: int
    revenue_cents: int
    revenue_per_customer_cents: int
    months: tuple[CohortMonth, ...]


def revenue_cohorts(
    scope: Scope, payments: Sequence[Payment], refunds: Sequence[Refund]
) -> list[RevenueCohort]:
    """``payments`` and ``refunds``: every one up to ``end``, before the range included."""
    first_revenue: dict[str, Step] = {}
    for step in scope.history.steps:
        if step.at >= scope.end:
            break
        if step.before.mrr_cents <= 0 < step.after.mrr_cents and not step.had_revenue:
            first_revenue.setdefault(step.customer_id, step)
    members: dict[str, list[str]] = defaultdict(list)
    for cid, step in first_revenue.items():
        if scope.start <= step.at and scope.step_in_segment(step):
            members[month_label(step.at)].append(cid)
    money: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for payment in payments:
        money[payment.invoice.customer_id].append(
            (payment.paid_at, payment.invoice.amount_paid_cents)
        )
    for refund in refunds:
        if refund.customer_id is not None:
            money[refund.customer_id].append((refund.refunded_at, -refund.amount_refunded_cents))
    cohorts = []
    for window in scope.months:
        customers = members.get(window.label, [])
        if not customers:
            continue
        months = []
        offset = 0
        bucket = window.bucket_start
        while bucket < scope.end:
            at = min(add_months(bucket, 1), scope.end)
            revenue = sum(
                cents for cid in customers for when, cents in money.get(cid, []) if when < at
            )
            retained = sum(1 for cid in customers if scope.history.state(cid, at).mrr_cents > 0)
            months.append(
                CohortMonth(
                    offset=offset,
                    month=month_label(bucket),
                    retained_customers=retained,
                    cumulative_revenue_cents=revenue,
                    cumulative_revenue_per_customer_cents=round_fraction_half_up(
                        Fraction(revenue, len(customers))
                    ),
                )
            )
            offset += 1
            bucket = add_months(bucket, 1)
        total = months[-1].cumulative_revenue_cents
        cohorts.append(
            RevenueCohort(
                month=window.label,
                customers=len(customers),
                revenue_cents=total,
                revenue_per_customer_cents=round_fraction_half_up(Fraction(total, len(customers))),
                months=tuple(months),
            )
        )
    return cohorts
