"""Every report for one range and segment at once, with ARPU and LTV.

Pure: no I/O. ``db/reporting.py`` loads the rows, ``compute_report`` does the rest.

* ARPU = ``mrr_cents`` / paying customers at ``end``. LTV = ARPU / revenue churn rate
  (both unrounded; rounded once at the end); none when revenue churn is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from domain.money import round_fraction_half_up
from domain.reporting.churn import ChurnSummary, churn_summary
from domain.reporting.cohorts import RevenueCohort, revenue_cohorts
from domain.reporting.funnel import TrialFunnel, trial_funnel
from domain.reporting.ledger import History, InvoiceRow, LedgerRow, Scope, Segment
from domain.reporting.mrr import (
    MovementSummary,
    MrrPoint,
    movement_summary,
    mrr_series,
    overage_at,
)
from domain.reporting.periods import Granularity, utc
from domain.reporting.revenue import (
    Payment,
    Refund,
    RevenueSummary,
    invoices_in_range,
    payments_in_range,
    payments_to_end,
    refunds_in_range,
    refunds_to_end,
    revenue_summary,
)
from domain.reporting.statuses import StatusPoint, lifecycle, status_counts


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    segment: Segment
    granularity: Granularity
    mrr_cents: int
    recurring_mrr_cents: int
    overage_mrr_cents: int
    arr_cents: int
    status_counts: Mapping[str, int]
    paying_customers: int
    arpu_cents: int | None
    ltv_cents: int | None
    movements: MovementSummary
    mrr_series: tuple[MrrPoint, ...]
    funnel: TrialFunnel
    churn: ChurnSummary
    cohorts: tuple[RevenueCohort, ...]
    lifecycle: tuple[StatusPoint, ...]
    invoices: tuple[InvoiceRow, ...]
    payments: tuple[Payment, ...]
    refunds: tuple[Refund, ...]
    revenue: RevenueSummary

    @property
    def trial_conversion_rate(self) -> Decimal | None:
        return self.funnel.counts.conversion_rate

    @property
    def logo_churn_rate(self) -> Decimal | None:
        return self.churn.logo_churn_rate

    @property
    def revenue_churn_rate(self) -> Decimal | None:
        return self.churn.revenue_churn_rate

    @property
    def dunning_recovery_rate(self) -> Decimal | None:
        return self.churn.dunning_recovery_rate


def _report(scope: Scope) -> Report:
    recurring, paying = scope.recurring_at(scope.end)
    overage = overage_at(scope, scope.end)
    mrr = recurring + overage
    churn = churn_summary(scope)
    all_payments = payments_to_end(scope)
    all_refunds = refunds_to_end(scope)
    payments = payments_in_range(scope, all_payments)
    refunds = refunds_in_range(scope, all_refunds)
    arpu = Fraction(mrr, paying) if paying else None
    revenue_churn = Fraction(churn.churned_mrr_cents + churn.contraction_mrr_cents)
    churn_base = sum(m.mrr_at_start_cents for m in churn.months)
    ltv = None
    if arpu is not None and revenue_churn > 0 and churn_base > 0:
        ltv = round_fraction_half_up(arpu / (revenue_churn / churn_base))
    return Report(
        start=scope.start,
        end=scope.end,
        segment=scope.segment,
        granularity=scope.granularity,
        mrr_cents=mrr,
        recurring_mrr_cents=recurring,
        overage_mrr_cents=overage,
        arr_cents=12 * mrr,
        status_counts=status_counts(scope, scope.end),
        paying_customers=paying,
        arpu_cents=None if arpu is None else round_fraction_half_up(arpu),
        ltv_cents=ltv,
        movements=movement_summary(scope),
        mrr_series=mrr_series(scope),
        funnel=trial_funnel(scope),
        churn=churn,
        cohorts=tuple(revenue_cohorts(scope, all_payments, all_refunds)),
        lifecycle=lifecycle(scope),
        invoices=invoices_in_range(scope),
        payments=payments,
        refunds=refunds,
        revenue=revenue_summary(payments, refunds),
    )


def compute_report(
    rows: Iterable[LedgerRow],
    invoices: Iterable[InvoiceRow] = (),
    *,
    start: datetime,
    end: datetime,
    plan: str | None = None,
    interval: str | None = None,
    granularity: Granularity | str = Granularity.MONTH,
) -> Report:
    """Every metric for [start, end). ``rows`` must hold the ledger up to ``end`` (MRR at
    ``start`` needs the history before it); rows at or after ``end`` are ignored."""
    start, end = utc(start), utc(end)
    if start >= end:
        raise ValueError("start must be before end")
    history = History(r for r in rows if utc(r.occurred_at) < end)
    scope = Scope(
        history, list(invoices), start, end, Segment(plan, interval), Granularity(granularity)
    )
    return _report(scope)
