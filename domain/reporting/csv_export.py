"""The reports as CSV tables: their columns, their rows and how a cell is written."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from domain.reporting.funnel import FunnelCounts
from domain.reporting.ledger import MOVEMENT_TYPES, STATUSES
from domain.reporting.periods import utc
from domain.reporting.report import Report

CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "mrr": (
        "month",
        "at",
        "mrr_cents",
        "recurring_mrr_cents",
        "overage_mrr_cents",
        "new_cents",
        "expansion_cents",
        "contraction_cents",
        "churned_cents",
        "reactivated_cents",
        "net_cents",
    ),
    "mrr_movements": (
        "occurred_at",
        "customer_id",
        "movement",
        "event",
        "plan",
        "interval",
        "mrr_before_cents",
        "mrr_after_cents",
        "delta_cents",
        "voluntary",
    ),
    "invoices": (
        "invoice_id",
        "number",
        "customer_id",
        "status",
        "currency",
        "billing_reason",
        "subtotal_cents",
        "total_cents",
        "amount_due_cents",
        "amount_paid_cents",
        "amount_remaining_cents",
        "period_start",
        "period_end",
        "created_at",
        "paid_at",
        # The tax taken off the (net) amounts: columns are only ever added, at the end.
        "tax_cents",
    ),
    "payments": (
        "paid_at",
        "invoice_id",
        "number",
        "customer_id",
        "currency",
        "billing_reason",
        "amount_paid_cents",
    ),
    "refunds": (
        "refunded_at",
        "customer_id",
        "charge_id",
        "invoice_id",
        "currency",
        "amount_refunded_cents",
        "cumulative_refunded_cents",
        "event_id",
    ),
    "trial_funnel": (
        "cohort_week",
        "week_start",
        "trials_started",
        "converted",
        "converted_within_trial",
        "converted_after_expiry",
        "converted_via_winback",
        "expired",
        "expired_unconverted",
        "in_trial",
        "conversion_rate",
        "median_days_to_convert",
    ),
    "churn": (
        "month",
        "window_start",
        "window_end",
        "partial",
        "paying_customers_at_start",
        "mrr_at_start_cents",
        "churned_customers",
        "churned_mrr_cents",
        "contraction_mrr_cents",
        "logo_churn_rate",
        "revenue_churn_rate",
        "voluntary_churned_customers",
        "voluntary_churned_mrr_cents",
        "involuntary_churned_customers",
        "involuntary_churned_mrr_cents",
        "dunning_started",
        "dunning_recovered",
        "dunning_exhausted",
        "dunning_recovery_rate",
    ),
    "cohorts": (
        "cohort_month",
        "customers",
        "month_offset",
        "month",
        "retained_customers",
        "cumulative_revenue_cents",
        "cumulative_revenue_per_customer_cents",
    ),
    "lifecycle": ("period", "period_start", "at", *STATUSES, "total"),
}

CsvValue = str | int | bool | Decimal | datetime | date | None


def _funnel_values(counts: FunnelCounts) -> list[CsvValue]:
    return [
        counts.started,
        counts.converted,
        counts.converted_within_trial,
        counts.converted_after_expiry,
        counts.converted_via_winback,
        counts.expired,
        counts.expired_unconverted,
        counts.in_trial,
        counts.conversion_rate,
        counts.median_days_to_convert,
    ]


def csv_rows(report: Report, name: str) -> list[list[CsvValue]]:
    """The rows of one CSV table, in ``CSV_COLUMNS[name]`` order."""
    if name == "mrr":
        return [
            [
                p.month,
                p.at,
                p.mrr_cents,
                p.recurring_mrr_cents,
                p.overage_mrr_cents,
                *(p.movements[t] for t in MOVEMENT_TYPES),
                p.net_cents,
            ]
            for p in report.mrr_series
        ]
    if name == "mrr_movements":
        return [
            [
                m.occurred_at,
                m.customer_id,
                m.type.value,
                m.event,
                m.plan,
                m.interval,
                m.mrr_before_cents,
                m.mrr_after_cents,
                m.cents,
                m.voluntary,
            ]
            for m in report.movements.entries
        ]
    if name == "invoices":
        return [
            [
                i.id,
                i.number,
                i.customer_id,
                i.status,
                i.currency,
                i.billing_reason,
                i.subtotal_cents,
                i.total_cents,
                i.amount_due_cents,
                i.amount_paid_cents,
                i.amount_remaining_cents,
                i.period_start,
                i.period_end,
                i.created_at,
                i.paid_at,
                i.tax_cents,
            ]
            for i in report.invoices
        ]
    if name == "payments":
        return [
            [
                p.paid_at,
                p.invoice.id,
                p.invoice.number,
                p.invoice.customer_id,
                p.invoice.currency,
                p.invoice.billing_reason,
                p.invoice.amount_paid_cents,
            ]
            for p in report.payments
        ]
    if name == "refunds":
        return [
            [
                r.refunded_at,
                r.customer_id,
                r.charge_id,
                r.invoice_id,
                r.currency,
                r.amount_refunded_cents,
                r.cumulative_refunded_cents,
                r.event_id,
            ]
            for r in report.refunds
        ]
    if name == "trial_funnel":
        return [[c.week, c.week_start, *_funnel_values(c.counts)] for c in report.funnel.cohorts]
    if name == "churn":
        return [
            [
                m.month,
                m.window_start,
                m.window_end,
                m.partial,
                m.paying_customers_at_start,
                m.mrr_at_start_cents,
                m.churned_customers,
                m.churned_mrr_cents,
                m.contraction_mrr_cents,
                m.logo_churn_rate,
                m.revenue_churn_rate,
                m.voluntary_churned_customers,
                m.voluntary_churned_mrr_cents,
                m.involuntary_churned_customers,
                m.involuntary_churned_mrr_cents,
                m.dunning_started,
                m.dunning_recovered,
                m.dunning_exhausted,
                m.dunning_recovery_rate,
            ]
            for m in report.churn.months
        ]
    if name == "cohorts":
        return [
            [
                c.month,
                c.customers,
                m.offset,
                m.month,
                m.retained_customers,
                m.cumulative_revenue_cents,
                m.cumulative_revenue_per_customer_cents,
            ]
            for c in report.cohorts
            for m in c.months
        ]
    if name == "lifecycle":
        return [
            [p.period, p.period_start, p.at, *(p.counts.get(s, 0) for s in STATUSES), p.total]
            for p in report.lifecycle
        ]
    raise KeyError(name)


def csv_text(value: CsvValue) -> str:
    """How a CSV cell is written: ISO 8601 times, plain decimals, true/false, '' for none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
