"""Churn and dunning, per calendar month of the range and pooled over it.

* Churn per calendar month window W = [ws, we): paying customers at ws = customers with
  recurring MRR > 0 at ws; logo churn = distinct customers with a ``churned`` movement in W
  / paying customers at ws; revenue churn = (|churned| + |contraction|) in W / recurring
  MRR at ws. Involuntary churn = churned movements by ``subscription_canceled`` with
  ``voluntary = false`` (dunning exhausted); every other churned movement (cancellations,
  pauses) is voluntary. Dunning: started = ``payment_failed`` rows, recovered =
  ``payment_recovered`` rows, exhausted = ``subscription_canceled`` with ``voluntary =
  false`` or ``plan_changed`` with ``reason = dunning_exhausted``; recovery rate =
  recovered / (recovered + exhausted). The range's ``logo_churn_rate`` and
  ``revenue_churn_rate`` pool the months: sum of numerators / sum of denominators (a
  monthly rate); the range's dunning recovery rate pools the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.reporting.ledger import LedgerRow, MovementType, Scope, involuntary_cancel
from domain.reporting.rates import ratio


@dataclass(frozen=True)
class ChurnMonth:
    month: str
    window_start: datetime
    window_end: datetime
    partial: bool
    paying_customers_at_start: int
    mrr_at_start_cents: int
    churned_customers: int
    churned_mrr_cents: int
    contraction_mrr_cents: int
    logo_churn_rate: Decimal | None
    revenue_churn_rate: Decimal | None
    voluntary_churned_customers: int
    voluntary_churned_mrr_cents: int
    involuntary_churned_customers: int
    involuntary_churned_mrr_cents: int
    dunning_started: int
    dunning_recovered: int
    dunning_exhausted: int
    dunning_recovery_rate: Decimal | None


@dataclass(frozen=True)
class ChurnSummary:
    logo_churn_rate: Decimal | None
    revenue_churn_rate: Decimal | None
    churned_customers: int
    churned_mrr_cents: int
    contraction_mrr_cents: int
    voluntary_churned_customers: int
    voluntary_churned_mrr_cents: int
    involuntary_churned_customers: int
    involuntary_churned_mrr_cents: int
    dunning_started: int
    dunning_recovered: int
    dunning_exhausted: int
    dunning_recovery_rate: Decimal | None
    months: tuple[ChurnMonth, ...]


def _dunning_exhausted(row: LedgerRow) -> bool:
    return involuntary_cancel(row) or (
        row.kind == "plan_changed" and row.data.get("reason") == "dunning_exhausted"
    )


def churn_summary(scope: Scope) -> ChurnSummary:
    months = []
    for window in scope.months:
        mrr, paying = scope.recurring_at(window.start)
        moved = scope.movements_between(window.start, window.end)
        churned = [m for m in moved if m.type is MovementType.CHURNED]
        voluntary = [m for m in churned if m.voluntary]
        involuntary = [m for m in churned if not m.voluntary]
        churned_mrr = -sum(m.cents for m in churned)
        contraction = -sum(m.cents for m in moved if m.type is MovementType.CONTRACTION)
        dunning = [
            s
            for s in scope.history.steps_between(window.start, window.end)
            if scope.step_in_segment(s)
        ]
        started = sum(1 for s in dunning if s.row.kind == "payment_failed")
        recovered = sum(1 for s in dunning if s.row.kind == "payment_recovered")
        exhausted = sum(1 for s in dunning if _dunning_exhausted(s.row))
        months.append(
            ChurnMonth(
                month=window.label,
                window_start=window.start,
                window_end=window.end,
                partial=window.partial,
                paying_customers_at_start=paying,
                mrr_at_start_cents=mrr,
                churned_customers=len({m.customer_id for m in churned}),
                churned_mrr_cents=churned_mrr,
                contraction_mrr_cents=contraction,
                logo_churn_rate=ratio(len({m.customer_id for m in churned}), paying),
                revenue_churn_rate=ratio(churned_mrr + contraction, mrr),
                voluntary_churned_customers=len({m.customer_id for m in voluntary}),
                voluntary_churned_mrr_cents=-sum(m.cents for m in voluntary),
                involuntary_churned_customers=len({m.customer_id for m in involuntary}),
                involuntary_churned_mrr_cents=-sum(m.cents for m in involuntary),
                dunning_started=started,
                dunning_recovered=recovered,
                dunning_exhausted=exhausted,
                dunning_recovery_rate=ratio(recovered, recovered + exhausted),
            )
        )
    lost = sum(m.churned_customers for m in months)
    lost_mrr = sum(m.churned_mrr_cents for m in months)
    contraction = sum(m.contraction_mrr_cents for m in months)
    recovered = sum(m.dunning_recovered for m in months)
    exhausted = sum(m.dunning_exhausted for m in months)
    return ChurnSummary(
        logo_churn_rate=ratio(lost, sum(m.paying_customers_at_start for m in months)),
        revenue_churn_rate=ratio(lost_mrr + contraction, sum(m.mrr_at_start_cents for m in months)),
        churned_customers=lost,
        churned_mrr_cents=lost_mrr,
        contraction_mrr_cents=contraction,
        voluntary_churned_customers=sum(m.voluntary_churned_customers for m in months),
        voluntary_churned_mrr_cents=sum(m.voluntary_churned_mrr_cents for m in months),
        involuntary_churned_customers=sum(m.involuntary_churned_customers for m in months),
        involuntary_churned_mrr_cents=sum(m.involuntary_churned_mrr_cents for m in months),
        dunning_started=sum(m.dunning_started for m in months),
        dunning_recovered=recovered,
        dunning_exhausted=exhausted,
        dunning_recovery_rate=ratio(recovered, recovered + exhausted),
        months=tuple(months),
    )
