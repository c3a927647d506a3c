"""Response bodies of the revenue metrics (``GET /v1/admin/metrics``) and the competitive
pricing report (``GET /v1/admin/reports/competitive``).

Stable contract for the admin dashboard and other consumers: fields are only ever added.
Money is integer cents. Rates are fractions (0.25 = 25 %) rounded half up to 4 decimal
places, days to 2; ``null`` when undefined (a zero denominator). The definitions are in
the modules of ``domain/reporting/`` and in the endpoint's description.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.reporting.net_of_tax import TaxBasis

Rate = float | None


class CustomerCentsView(BaseModel):
    customer_id: str
    cents: int = Field(description="The customer's movements of this type in the range, summed")


class MovementTotalView(BaseModel):
    cents: int = Field(description="Signed: contraction and churned are negative")
    count: int = Field(description="Customers behind the movement")
    customers: list[CustomerCentsView] = Field(description="Largest movement first")


class MrrMovementsView(BaseModel):
    starting_mrr_cents: int = Field(description="Recurring MRR at `from`")
    ending_mrr_cents: int = Field(description="Recurring MRR at `to`")
    new: MovementTotalView = Field(description="0 -> > 0, the customer's first revenue")
    expansion: MovementTotalView = Field(description="> 0 -> more")
    contraction: MovementTotalView = Field(description="> 0 -> less, still > 0")
    churned: MovementTotalView = Field(description="> 0 -> 0: cancellation, pause, dunning")
    reactivated: MovementTotalView = Field(
        description="0 -> > 0 for a customer who had MRR before (resume, restart)"
    )
    net_cents: int = Field(description="new + expansion + contraction + churned + reactivated")
    transfer_in_cents: int = Field(
        description="With a plan/interval filter: MRR customers brought into the segment by "
        "changing plan or interval (0 without a filter)"
    )
    transfer_out_cents: int = Field(
        description="With a plan/interval filter: MRR customers took out of the segment. "
        "starting + net + transfer_in - transfer_out = ending"
    )


class MrrPointView(BaseModel):
    month: str = Field(description="YYYY-MM (UTC)", examples=["2026-01"])
    at: datetime = Field(description="Where the point is measured: month end, or `to`")
    mrr_cents: int = Field(description="recurring_mrr_cents + overage_mrr_cents at `at`")
    recurring_mrr_cents: int
    overage_mrr_cents: int = Field(description="Message packs billed in [at - 1 month, at)")
    new_cents: int
    expansion_cents: int
    contraction_cents: int
    churned_cents: int
    reactivated_cents: int
    net_cents: int


class FunnelCountsView(BaseModel):
    started: int = Field(description="Trials started in the range (the cohort)")
    converted: int = Field(description="Of those, converted by `to` (into the segment)")
    converted_within_trial: int
    converted_after_expiry: int = Field(description="After the trial expired, no win-back")
    converted_via_winback: int = Field(description="After at least one win-back email")
    expired: int = Field(description="Trial expired by `to` (whether converted later or not)")
    expired_unconverted: int
    in_trial: int = Field(description="Still trialing at `to`")
    conversion_rate: Rate = Field(description="converted / started")
    median_days_to_convert: Rate = Field(description="Trial start to conversion, in days")


class TrialCohortView(FunnelCountsView):
    week: str = Field(description="ISO week of the trial start", examples=["2026-W02"])
    week_start: date = Field(description="The Monday of that week")


class TrialFunnelView(FunnelCountsView):
    cohorts: list[TrialCohortView] = Field(description="By ISO week of sign-up")


class ChurnMonthView(BaseModel):
    month: str = Field(description="YYYY-MM")
    window_start: datetime
    window_end: datetime
    partial: bool = Field(description="The month is cut by the range")
    paying_customers_at_start: int
    mrr_at_start_cents: int
    churned_customers: int
    churned_mrr_cents: int = Field(description="Positive")
    contraction_mrr_cents: int = Field(description="Positive")
    logo_churn_rate: Rate = Field(description="churned_customers / paying_customers_at_start")
    revenue_churn_rate: Rate = Field(
        description="(churned_mrr_cents + contraction_mrr_cents) / mrr_at_start_cents"
    )
    voluntary_churned_customers: int
    voluntary_churned_mrr_cents: int
    involuntary_churned_customers: int = Field(description="Canceled when dunning ran out")
    involuntary_churned_mrr_cents: int
    dunning_started: int
    dunning_recovered: int
    dunning_exhausted: int
    dunning_recovery_rate: Rate = Field(
        description="dunning_recovered / (dunning_recovered + dunning_exhausted)"
    )


class ChurnView(BaseModel):
    logo_churn_rate: Rate = Field(description="Monthly, pooled over the range's months")
    revenue_churn_rate: Rate = Field(description="Monthly, pooled over the range's months")
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
    dunning_recovery_rate: Rate
    months: list[ChurnMonthView]


class CohortMonthView(BaseModel):
    offset: int = Field(description="Months since the cohort month (0 = the cohort month)")
    month: str
    retained_customers: int = Field(description="With recurring MRR > 0 at that month's end")
    cumulative_revenue_cents: int = Field(description="Paid invoices less refunds, to date")
    cumulative_revenue_per_customer_cents: int


class RevenueCohortView(BaseModel):
    month: str = Field(description="Month of the customers' first revenue")
    customers: int
    revenue_cents: int = Field(description="Observed cumulative revenue up to `to`")
    revenue_per_customer_cents: int = Field(description="Observed lifetime value so far")
    months: list[CohortMonthView]


class StatusCountsView(BaseModel):
    trialing: int
    trial_expired: int
    active: int
    past_due: int
    paused: int
    canceled: int
    total: int


class LifecyclePointView(StatusCountsView):
    period: str = Field(description="The bucket: YYYY-MM-DD, YYYY-Www or YYYY-MM")
    period_start: datetime
    at: datetime = Field(description="Counts at the end of the bucket (or at `to`)")


class RevenueView(BaseModel):
    payments: int = Field(description="Paid invoices with a payment in the range")
    payments_cents: int
    refunds: int
    refunds_cents: int
    net_revenue_cents: int = Field(description="payments_cents - refunds_cents")


class ExchangeRateView(BaseModel):
    currency: str = Field(description="A currency customers pay in, converted from")
    rate: str = Field(description="Units of the report's currency per unit of `currency`")
    rate_date: date | None = Field(description="The rate's date: on or before the report's end")
    source: str


class TaxSharesView(BaseModel):
    """Where each customer's net share (the part of what it pays that is not tax) came
    from; customers named by the report's data."""

    from_invoice: int = Field(
        description="From the customer's latest subscription invoice: (total - tax) / total"
    )
    estimated: int = Field(
        description="No invoice yet: the engine's rates for its country, state and tax id"
    )
    untaxed: int = Field(description="Tax off, or the customer not located: nothing taken off")

    @classmethod
    def of(cls, basis: TaxBasis) -> TaxSharesView:
        return cls(
            from_invoice=basis.from_invoice, estimated=basis.estimated, untaxed=basis.untaxed
        )


TAX_BASIS_DESCRIPTION = (
    "`net`: every amount (MRR, ARPU, LTV, revenue, cohorts, invoices) excludes the tax "
    "collected; MRR from tax-inclusive prices is multiplied by each customer's net share"
)


class MetricsView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Range start (inclusive), UTC")
    to: datetime = Field(description="Range end (exclusive), UTC; snapshots are taken here")
    plan: str | None
    interval: str | None
    granularity: str = Field(description="Bucket of `lifecycle`: day, week or month")
    currency: str = Field(
        description="What every amount is in: the reporting currency ([billing] "
        "reporting_currency, default the catalog's)"
    )
    exchange_rates: list[ExchangeRateView] = Field(
        default_factory=list,
        description="When customers pay in other currencies: the rate each was converted at "
        "(one per currency, the rate of `to`: constant exchange rates). Empty: one currency.",
    )
    tax_basis: Literal["net"] = Field(default="net", description=TAX_BASIS_DESCRIPTION)
    tax_shares: TaxSharesView | None = Field(
        default=None, description="Where the customers' net shares came from"
    )
    mrr_cents: int = Field(description="recurring_mrr_cents + overage_mrr_cents")
    recurring_mrr_cents: int = Field(description="Plans and recurring add-ons at `to`")
    overage_mrr_cents: int = Field(
        description="Metered overage: one-off message packs billed in [to - 1 month, to)"
    )
    arr_cents: int = Field(description="12 x mrr_cents")
    active_customers: int
    trialing_customers: int
    past_due_customers: int
    paused_customers: int
    trial_expired_customers: int
    canceled_customers: int
    paying_customers: int = Field(description="Recurring MRR > 0 at `to` (past_due included)")
    trial_conversion_rate: Rate = Field(description="trial_funnel.conversion_rate")
    logo_churn_rate: Rate = Field(description="churn.logo_churn_rate")
    revenue_churn_rate: Rate = Field(description="churn.revenue_churn_rate")
    dunning_recovery_rate: Rate = Field(description="churn.dunning_recovery_rate")
    arpu_cents: int | None = Field(description="mrr_cents / paying_customers")
    ltv_cents: int | None = Field(description="ARPU / revenue_churn_rate (unrounded inputs)")
    mrr_movements: MrrMovementsView
    mrr_series: list[MrrPointView] = Field(description="One point per calendar month")
    trial_funnel: TrialFunnelView
    churn: ChurnView
    cohorts: list[RevenueCohortView] = Field(description="Monthly first-revenue cohorts")
    lifecycle: list[LifecyclePointView] = Field(description="Customers per status over time")
    revenue: RevenueView


# -- competitive pricing (GET /v1/admin/reports/competitive) ------------------------------


class UnitPriceView(BaseModel):
    metric: str = Field(description="chatbots, messages, tokens or api_calls")
    unit: str = Field(description="What the price is per", examples=["1,000 messages"])
    unit_size: int = Field(description="Units of the metric in `unit`", examples=[1000])
    limit_kind: str = Field(
        description="`limited`, `unlimited`, or `unknown` (a competitor's metric its config "
        "leaves out: not offered or not published)"
    )
    limit: int | None = Field(description="Included per month (null unless limited)")
    cents_per_unit: int | None = Field(
        description="Monthly price / limit x unit_size, rounded half up; null when "
        "unlimited, unknown or not included (limit 0)"
    )
    overage_cents_per_unit: int | None = Field(
        description="A competitor's price per `unit` beyond the limit (null: none)"
    )


class PlanUnitPricesView(BaseModel):
    competitor_id: str | None = Field(description="Null for our own plans")
    vendor: str = Field(description="Our product's name or the competitor's")
    plan_id: str
    plan_name: str
    interval: str = Field(description="How the plan is billed: month or year")
    price_cents: int = Field(description="As billed on `interval`")
    monthly_cents: int = Field(description="price_cents, or price_cents / 12 when yearly")
    units: list[UnitPriceView] = Field(description="One per metric")


class AddonLineView(BaseModel):
    addon_id: str
    name: str
    quantity: int = Field(description="Whole units of the add-on the profile needs")
    monthly_cents: int = Field(description="All units, per month")


class DifferenceView(BaseModel):
    competitor_id: str
    competitor_plan_id: str = Field(description="The competitor's cheapest covering plan")
    difference_cents: int = Field(description="Our monthly cost - theirs: > 0 when we cost more")
    difference_rate: Rate = Field(
        description="difference_cents / their monthly cost (0.25 = 25 % more); null when "
        "theirs is free"
    )


class OurPlanCostView(BaseModel):
    plan_id: str
    plan_name: str
    covers: bool = Field(description="The plan, with add-ons, fits the whole profile")
    priced_per_contract: bool = Field(description="A sales-led plan: no list price")
    monthly_cents: int | None = Field(
        description="plan_cents + the add-ons' monthly_cents; null unless `covers`"
    )
    plan_cents: int | None = Field(description="The plan's monthly price on the interval")
    addons: list[AddonLineView] = Field(
        description="The cheapest add-on for each metric over the plan's limit"
    )
    uncovered: list[str] = Field(description="Metrics neither the plan nor an add-on lifts")
    versus: list[DifferenceView] = Field(
        description="Against each competitor's cheapest covering plan (left out when either "
        "side cannot cover the profile)"
    )


class CompetitorPlanCostView(BaseModel):
    plan_id: str
    plan_name: str
    covers: bool
    monthly_cents: int | None = Field(
        description="plan_cents + overage_cents; null unless `covers`"
    )
    plan_cents: int = Field(description="The plan's monthly price")
    overage_cents: int = Field(description="Usage beyond the limits at the overage rates")
    over_limit: list[str] = Field(description="Metrics over the limit with no overage rate")
    unknown: list[str] = Field(description="Metrics used whose limit is not known")


class CompetitorCostView(BaseModel):
    competitor_id: str
    name: str
    cheapest_plan_id: str | None = Field(
        description="The cheapest plan that covers the profile (null: none does)"
    )
    monthly_cents: int | None = Field(description="What that plan costs per month")
    plans: list[CompetitorPlanCostView] = Field(description="Its plans billed on the interval")


class UsageComparisonView(BaseModel):
    profile: str = Field(
        description="`requested` for the query's usage, else `small`, `medium` or `large`"
    )
    usage: dict[str, int] = Field(description="Quantity per metric per month")
    cheapest_plan_id: str | None = Field(description="Our cheapest covering plan")
    monthly_cents: int | None = Field(description="What our cheapest covering plan costs")
    ours: list[OurPlanCostView] = Field(description="Every plan of our catalog")
    competitors: list[CompetitorCostView]


class CompetitiveView(BaseModel):
    currency: str
    interval: str = Field(description="The billing interval compared: month or year")
    unit_prices: list[PlanUnitPricesView] = Field(
        description="Our self-serve plans, then each competitor's plans billed on the interval"
    )
    comparisons: list[UsageComparisonView] = Field(
        description="The requested usage, or the default profiles without usage parameters"
    )


# -- revenue forecast (GET /v1/admin/reports/forecast) ------------------------------------


class ForecastMonthView(BaseModel):
    horizon: int = Field(description="Months after `as_of`: 1 is the month starting at `as_of`")
    start: datetime = Field(description="The month's start, UTC")
    end: datetime = Field(description="The month's end (exclusive), where its MRR is taken")
    mrr_cents: int = Field(description="Point forecast of recurring MRR at `end`")
    mrr_low_cents: int = Field(description="Lower bound of the prediction interval (`coverage`)")
    mrr_high_cents: int = Field(description="Upper bound of the prediction interval")
    cash_cents: int = Field(description="Point forecast of what is billed in [start, end)")
    cash_low_cents: int = Field(description="Lower bound of the cash prediction interval")
    cash_high_cents: int = Field(description="Upper bound of the cash prediction interval")
    new_mrr_cents: int = Field(description="New MRR in the month (point forecast)")
    pipeline_mrr_cents: int = Field(
        description="Of new_mrr_cents: from trials already running at `as_of`"
    )


class ForecastHistoryMonthView(BaseModel):
    start: datetime = Field(description="The month's start, UTC")
    end: datetime = Field(description="The month's end (exclusive)")
    mrr_cents: int = Field(description="Recurring MRR at `end`, as the ledger replays it")
    paying_customers: int = Field(description="Customers with recurring MRR > 0 at `end`")
    new_mrr_cents: int = Field(
        description="MRR at `end` of customers whose first revenue fell in it"
    )
    trial_starts: int = Field(description="Trials started in the month")
    cash_cents: int = Field(
        description="Billed in [start, end): the invoices' totals (not draft or void), or the "
        "ledger's schedule when there are no invoices (`cash_source`)"
    )
    scheduled_cash_cents: int = Field(
        description="What the ledger schedules: MRR monthly, 12 x MRR on annual anniversaries"
    )


class TenureRetentionView(BaseModel):
    tenure: str = Field(description="Months since the customer's first revenue")
    rate: float = Field(description="MRR kept a month later / MRR at the month's start")
    customer_months: int = Field(
        description="Paying customer-months behind it; the rate is shrunk towards the "
        "all-tenure rate by 200 customer-months of it, so a thin bucket leans on that"
    )


class ForecastRatesView(BaseModel):
    fit_from: datetime = Field(description="Start of the months the model is fitted on")
    fit_to: datetime = Field(description="Their end: `as_of`")
    fit_months: int
    retention: list[TenureRetentionView] = Field(description="Monthly, per tenure bucket")
    returning_rate: float = Field(
        description="MRR returning from former customers a month / paying MRR at its start"
    )
    conversion_by_lag: list[float] = Field(
        description="Of a month's trials, the share first paying 0, 1, 2, 3 months later"
    )
    trial_starts_per_month: float = Field(description="Future trials a month: the recent average")
    mrr_per_conversion_cents: int = Field(
        description="A new customer's MRR at the end of its first month, on average"
    )
    direct_new_mrr_cents: int = Field(description="New MRR without a trial a month, recently")
    annual_share: float = Field(description="Share of new MRR on annual plans")
    cash_ratio: float = Field(
        description="Invoiced / scheduled billing over the last 3 months (1 without invoices)"
    )


class HorizonAccuracyView(BaseModel):
    horizon: int = Field(description="Months ahead")
    forecasts: int = Field(
        description="Backtest forecasts made this far ahead (0: too little history)"
    )
    mrr_mape: Rate = Field(description="Mean |forecast - actual| / actual of MRR (0.05 = 5 %)")
    cash_mape: Rate = Field(description="The same for cash")
    mrr_coverage: Rate = Field(description="Share of actual MRR inside the interval")
    cash_coverage: Rate = Field(description="Share of actual cash inside the interval")


class ForecastBacktestView(BaseModel):
    note: str = Field(description="How it was run, or why it could not be")
    cutoffs: list[datetime] = Field(description="The past moments forecast from")
    horizons: list[HorizonAccuracyView] = Field(description="Months ahead 1, 3, 6 and 12")
    mrr_coverage: Rate = Field(description="Empirical coverage of the MRR interval, all horizons")
    cash_coverage: Rate = Field(description="Empirical coverage of the cash interval")


class ForecastView(BaseModel):
    as_of: datetime = Field(description="Forecast from this moment; the history is before it")
    months: int = Field(description="Months forecast")
    currency: str = Field(description="The catalog's currency: every amount is in its cents")
    status: str = Field(description="`ok`, or `insufficient_history`: no forecast, `note` says why")
    note: str = Field(description="The fit window, or why there is no forecast")
    method: str = Field(description="`cohort`")
    method_description: str = Field(description="The model in one paragraph")
    coverage: float = Field(description="Nominal coverage of the prediction intervals")
    cash_source: str = Field(
        description="`invoices` (the invoice mirror) or `ledger` (no invoices: the ledger's "
        "billing schedule) for the actual cash"
    )
    forecast: list[ForecastMonthView] = Field(description="One per month ahead; empty without")
    rates: ForecastRatesView | None = Field(description="What the model was fitted to")
    backtest: ForecastBacktestView = Field(
        description="The model run on the history: MAPE per horizon and interval coverage"
    )
    history: list[ForecastHistoryMonthView] = Field(
        description="The months the forecast reads (up to 48), oldest first, ending at `as_of`"
    )
