"""Revenue reporting: the report for a validated range and segment (read from the ledger
and the invoice mirror, computed with ``domain.reporting``), as the metrics body or a CSV
table; and the competitive pricing report (the config only, ``domain.growth.competitive``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from starlette.concurrency import run_in_threadpool

from api.context import AppContext
from api.errors import FieldError, Problem
from api.reports.schemas import (
    AddonLineView,
    ChurnMonthView,
    ChurnView,
    CohortMonthView,
    CompetitiveView,
    CompetitorCostView,
    CompetitorPlanCostView,
    CustomerCentsView,
    DifferenceView,
    ExchangeRateView,
    LifecyclePointView,
    MetricsView,
    MovementTotalView,
    MrrMovementsView,
    MrrPointView,
    OurPlanCostView,
    PlanUnitPricesView,
    RevenueCohortView,
    RevenueView,
    TaxSharesView,
    TrialCohortView,
    TrialFunnelView,
    UnitPriceView,
    UsageComparisonView,
)
from core.config import EngineConfig
from domain.growth.competitive import (
    CompetitiveReport,
    PlanUnitPrices,
    UsageComparison,
    competitive_report,
    default_profiles,
    metric_unit,
    profile,
)
from domain.lifecycle import BillingInterval
from domain.months import add_months
from domain.reporting.churn import ChurnMonth
from domain.reporting.constant_rates import RateUsed
from domain.reporting.csv_export import CSV_COLUMNS, csv_rows, csv_text
from domain.reporting.currencies import NoRate
from domain.reporting.funnel import FunnelCounts
from domain.reporting.ledger import MOVEMENT_TYPES, STATUSES, MovementType
from domain.reporting.mrr import MovementTotal
from domain.reporting.net_of_tax import TaxBasis
from domain.reporting.periods import Granularity, utc
from domain.reporting.report import Report, compute_report
from services import fx

# The longest range a report covers (keeps a typo like from=0001-01-01 from running long).
MAX_RANGE_YEARS = 10


def _problem(name: str, message: str) -> Problem:
    return Problem(
        422, f"{name}: {message}", type="validation-error", errors=[FieldError(name, message)]
    )


# The calendar a report may cover. Month and week buckets step past both ends of the
# range, and datetime stops at years 1 and 9999: dates near either edge would overflow
# mid-computation, and no ledger holds them anyway.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _bounded(name: str, value: datetime) -> datetime:
    try:
        moment = utc(value)
    except OverflowError:
        moment = None  # a zone offset pushes it past year 1 or 9999
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise _problem(
            name, f"must lie between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}"
        )
    return moment


def report_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = _bounded("to", end) if end is not None else datetime.now(UTC)
    start = _bounded("from", start) if start is not None else add_months(end, -12)
    if start < EARLIEST:
        raise _problem("to", f"must be after {EARLIEST.date().isoformat()} plus 12 months")
    if start >= end:
        raise _problem("from", "must be before `to`")
    if start < add_months(end, -12 * MAX_RANGE_YEARS):
        raise _problem("from", f"the range may span at most {MAX_RANGE_YEARS} years")
    return start, end


@dataclass(frozen=True)
class BuiltReport:
    report: Report
    # What its amounts are in, and the rates that brought other currencies there.
    currency: str
    rates: tuple[RateUsed, ...] = ()
    # Net of tax, and where the customers' net shares came from.
    tax: TaxBasis | None = None


async def build_report(
    context: AppContext,
    *,
    start: datetime | None,
    end: datetime | None,
    plan: str | None,
    interval: BillingInterval | None,
    granularity: Granularity,
) -> BuiltReport:
    start, end = report_range(start, end)
    if plan is not None and plan not in context.config.catalog.plans:
        known = ", ".join(sorted(context.config.catalog.plans))
        raise _problem("plan", f"unknown plan {plan!r} (plans: {known})")
    try:
        inputs = await fx.report_inputs(context.config, context.sessions, end=end)
    except NoRate as exc:
        raise Problem(
            422,
            f"{exc}: customers pay in several currencies and the report converts them at "
            "the rates of its end (`lifecycle fx load` or PUT /v1/admin/fx-rates)",
            type="no-rate",
        ) from None
    report = await run_in_threadpool(
        compute_report,
        inputs.ledger,
        inputs.invoices,
        start=start,
        end=end,
        plan=plan,
        interval=interval.value if interval is not None else None,
        granularity=granularity,
    )
    return BuiltReport(report=report, currency=inputs.currency, rates=inputs.rates, tax=inputs.tax)


def require_csv_report(name: str) -> None:
    if name not in CSV_COLUMNS:
        raise Problem(
            404,
            f"no report named {name!r}; reports: {', '.join(CSV_COLUMNS)}",
            type="not-found",
        )


def render_csv(report: Report, name: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS[name])
    for row in csv_rows(report, name):
        writer.writerow([csv_text(value) for value in row])
    return buffer.getvalue()


def _rate(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _movement(total: MovementTotal) -> MovementTotalView:
    return MovementTotalView(
        cents=total.cents,
        count=len(total.customers),
        customers=[
            CustomerCentsView(customer_id=c.customer_id, cents=c.cents) for c in total.customers
        ],
    )


def _funnel_fields(counts: FunnelCounts) -> dict[str, object]:
    return {
        "started": counts.started,
        "converted": counts.converted,
        "converted_within_trial": counts.converted_within_trial,
        "converted_after_expiry": counts.converted_after_expiry,
        "converted_via_winback": counts.converted_via_winback,
        "expired": counts.expired,
        "expired_unconverted": counts.expired_unconverted,
        "in_trial": counts.in_trial,
        "conversion_rate": _rate(counts.conversion_rate),
        "median_days_to_convert": _rate(counts.median_days_to_convert),
    }


def _churn_month(month: ChurnMonth) -> ChurnMonthView:
    return ChurnMonthView(
        month=month.month,
        window_start=month.window_start,
        window_end=month.window_end,
        partial=month.partial,
        paying_customers_at_start=month.paying_customers_at_start,
        mrr_at_start_cents=month.mrr_at_start_cents,
        churned_customers=month.churned_customers,
        churned_mrr_cents=month.churned_mrr_cents,
        contraction_mrr_cents=month.contraction_mrr_cents,
        logo_churn_rate=_rate(month.logo_churn_rate),
        revenue_churn_rate=_rate(month.revenue_churn_rate),
        voluntary_churned_customers=month.voluntary_churned_customers,
        voluntary_churned_mrr_cents=month.voluntary_churned_mrr_cents,
        involuntary_churned_customers=month.involuntary_churned_customers,
        involuntary_churned_mrr_cents=month.involuntary_churned_mrr_cents,
        dunning_started=month.dunning_started,
        dunning_recovered=month.dunning_recovered,
        dunning_exhausted=month.dunning_exhausted,
        dunning_recovery_rate=_rate(month.dunning_recovery_rate),
    )


def metrics_view(
    report: Report,
    *,
    currency: str,
    rates: tuple[RateUsed, ...] = (),
    tax: TaxBasis | None = None,
) -> MetricsView:
    """``report`` computed from ``services.fx.report_inputs``: net of tax (``tax``: where
    the customers' net shares came from, when the caller has it)."""
    return MetricsView.model_validate(
        {
            "from": report.start,
            "to": report.end,
            **_metrics_fields(report, currency=currency),
            "tax_shares": TaxSharesView.of(tax) if tax is not None else None,
            "exchange_rates": [
                ExchangeRateView(
                    currency=r.currency, rate=str(r.rate), rate_date=r.rate_date, source=r.source
                )
                for r in rates
            ],
        }
    )


def _metrics_fields(report: Report, *, currency: str) -> dict[str, object]:
    counts = report.status_counts
    movements = report.movements
    churn = report.churn
    return dict(
        plan=report.segment.plan,
        interval=report.segment.interval,
        granularity=report.granularity.value,
        currency=currency,
        mrr_cents=report.mrr_cents,
        recurring_mrr_cents=report.recurring_mrr_cents,
        overage_mrr_cents=report.overage_mrr_cents,
        arr_cents=report.arr_cents,
        active_customers=counts["active"],
        trialing_customers=counts["trialing"],
        past_due_customers=counts["past_due"],
        paused_customers=counts["paused"],
        trial_expired_customers=counts["trial_expired"],
        canceled_customers=counts["canceled"],
        paying_customers=report.paying_customers,
        trial_conversion_rate=_rate(report.trial_conversion_rate),
        logo_churn_rate=_rate(report.logo_churn_rate),
        revenue_churn_rate=_rate(report.revenue_churn_rate),
        dunning_recovery_rate=_rate(report.dunning_recovery_rate),
        arpu_cents=report.arpu_cents,
        ltv_cents=report.ltv_cents,
        mrr_movements=MrrMovementsView(
            starting_mrr_cents=movements.starting_mrr_cents,
            ending_mrr_cents=movements.ending_mrr_cents,
            new=_movement(movements.totals[MovementType.NEW]),
            expansion=_movement(movements.totals[MovementType.EXPANSION]),
            contraction=_movement(movements.totals[MovementType.CONTRACTION]),
            churned=_movement(movements.totals[MovementType.CHURNED]),
            reactivated=_movement(movements.totals[MovementType.REACTIVATED]),
            net_cents=movements.net_cents,
            transfer_in_cents=movements.transfer_in_cents,
            transfer_out_cents=movements.transfer_out_cents,
        ),
        mrr_series=[
            MrrPointView(
                month=p.month,
                at=p.at,
                mrr_cents=p.mrr_cents,
                recurring_mrr_cents=p.recurring_mrr_cents,
                overage_mrr_cents=p.overage_mrr_cents,
                **{f"{t.value}_cents": p.movements[t] for t in MOVEMENT_TYPES},
                net_cents=p.net_cents,
            )
            for p in report.mrr_series
        ],
        trial_funnel=TrialFunnelView.model_validate(
            {
                **_funnel_fields(report.funnel.counts),
                "cohorts": [
                    TrialCohortView.model_validate(
                        {"week": c.week, "week_start": c.week_start, **_funnel_fields(c.counts)}
                    )
                    for c in report.funnel.cohorts
                ],
            }
        ),
        churn=ChurnView(
            logo_churn_rate=_rate(churn.logo_churn_rate),
            revenue_churn_rate=_rate(churn.revenue_churn_rate),
            churned_customers=churn.churned_customers,
            churned_mrr_cents=churn.churned_mrr_cents,
            contraction_mrr_cents=churn.contraction_mrr_cents,
            voluntary_churned_customers=churn.voluntary_churned_customers,
            voluntary_churned_mrr_cents=churn.voluntary_churned_mrr_cents,
            involuntary_churned_customers=churn.involuntary_churned_customers,
            involuntary_churned_mrr_cents=churn.involuntary_churned_mrr_cents,
            dunning_started=churn.dunning_started,
            dunning_recovered=churn.dunning_recovered,
            dunning_exhausted=churn.dunning_exhausted,
            dunning_recovery_rate=_rate(churn.dunning_recovery_rate),
            months=[_churn_month(m) for m in churn.months],
        ),
        cohorts=[
            RevenueCohortView(
                month=c.month,
                customers=c.customers,
                revenue_cents=c.revenue_cents,
                revenue_per_customer_cents=c.revenue_per_customer_cents,
                months=[
                    CohortMonthView(
                        offset=m.offset,
                        month=m.month,
                        retained_customers=m.retained_customers,
                        cumulative_revenue_cents=m.cumulative_revenue_cents,
                        cumulative_revenue_per_customer_cents=(
                            m.cumulative_revenue_per_customer_cents
                        ),
                    )
                    for m in c.months
                ],
            )
            for c in report.cohorts
        ],
        lifecycle=[
            LifecyclePointView(
                period=p.period,
                period_start=p.period_start,
                at=p.at,
                **{s: p.counts.get(s, 0) for s in STATUSES},
                total=p.total,
            )
            for p in report.lifecycle
        ],
        revenue=RevenueView(
            payments=report.revenue.payments,
            payments_cents=report.revenue.payments_cents,
            refunds=report.revenue.refunds,
            refunds_cents=report.revenue.refunds_cents,
            net_revenue_cents=report.revenue.net_revenue_cents,
        ),
    )


# -- competitive pricing ------------------------------------------------------------------


def competitive_view(
    config: EngineConfig, *, usage: Mapping[str, int | None], interval: BillingInterval
) -> CompetitiveView:
    """The report for ``usage`` (quantities per month; a metric left out counts 0), or for
    the default profiles when no quantity is given."""
    given = {metric: quantity for metric, quantity in usage.items() if quantity is not None}
    try:
        profiles = (profile("requested", given),) if given else default_profiles(config.catalog)
    except ValueError as exc:
        raise Problem(422, str(exc), type="validation-error") from None
    report = competitive_report(
        config.catalog,
        config.competitors,
        vendor=config.product_name,
        interval=interval,
        profiles=profiles,
    )
    return _competitive(report)


def _competitive(report: CompetitiveReport) -> CompetitiveView:
    return CompetitiveView(
        currency=report.currency,
        interval=report.interval.value,
        unit_prices=[_unit_prices(row) for row in report.unit_prices],
        comparisons=[_comparison(c) for c in report.comparisons],
    )


def _unit_prices(row: PlanUnitPrices) -> PlanUnitPricesView:
    return PlanUnitPricesView(
        competitor_id=row.competitor_id,
        vendor=row.vendor,
        plan_id=row.plan_id,
        plan_name=row.plan_name,
        interval=row.interval.value,
        price_cents=row.price_cents,
        monthly_cents=row.monthly_cents,
        units=[
            UnitPriceView(
                metric=u.metric,
                unit=metric_unit(u.metric)[1],
                unit_size=metric_unit(u.metric)[0],
                limit_kind=u.limit_kind.value,
                limit=u.limit,
                cents_per_unit=u.cents_per_unit,
                overage_cents_per_unit=u.overage_cents_per_unit,
            )
            for u in row.units
        ],
    )


def _comparison(comparison: UsageComparison) -> UsageComparisonView:
    cheapest = comparison.cheapest_ours
    ours = []
    for cost in comparison.ours:
        versus = []
        for competitor in comparison.competitors:
            difference = comparison.versus(cost, competitor)
            if difference is not None:
                versus.append(
                    DifferenceView(
                        competitor_id=difference.competitor_id,
                        competitor_plan_id=difference.competitor_plan_id,
                        difference_cents=difference.cents,
                        difference_rate=_rate(difference.rate),
                    )
                )
        ours.append(
            OurPlanCostView(
                plan_id=cost.plan_id,
                plan_name=cost.plan_name,
                covers=cost.monthly_cents is not None,
                priced_per_contract=cost.per_contract,
                monthly_cents=cost.monthly_cents,
                plan_cents=cost.plan_cents,
                addons=[
                    AddonLineView(
                        addon_id=line.addon_id,
                        name=line.name,
                        quantity=line.quantity,
                        monthly_cents=line.monthly_cents,
                    )
                    for line in cost.addons
                ],
                uncovered=list(cost.uncovered),
                versus=versus,
            )
        )
    competitors = []
    for competitor in comparison.competitors:
        best = competitor.cheapest
        competitors.append(
            CompetitorCostView(
                competitor_id=competitor.competitor_id,
                name=competitor.name,
                cheapest_plan_id=best.plan_id if best is not None else None,
                monthly_cents=best.monthly_cents if best is not None else None,
                plans=[
                    CompetitorPlanCostView(
                        plan_id=plan.plan_id,
                        plan_name=plan.plan_name,
                        covers=plan.monthly_cents is not None,
                        monthly_cents=plan.monthly_cents,
                        plan_cents=plan.plan_cents,
                        overage_cents=plan.overage_cents,
                        over_limit=list(plan.over_limit),
                        unknown=list(plan.unknown),
                    )
                    for plan in competitor.plans
                ],
            )
        )
    return UsageComparisonView(
        profile=comparison.profile.label,
        usage=dict(comparison.profile.usage),
        cheapest_plan_id=cheapest.plan_id if cheapest is not None else None,
        monthly_cents=cheapest.monthly_cents if cheapest is not None else None,
        ours=ours,
        competitors=competitors,
    )
