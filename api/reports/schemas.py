"""Response bodies of the revenue metrics (``GET /v1/admin/metrics``).

Stable contract for the admin dashboard and other consumers: fields are only ever added.
Money is integer cents. Rates are fractions (0.25 = 25 %) rounded half up to 4 decimal
places, days to 2; ``null`` when undefined (a zero denominator). The definitions are in
the modules of ``domain/reporting/`` and in the endpoint's description.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

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


class MetricsView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Range start (inclusive), UTC")
    to: datetime = Field(description="Range end (exclusive), UTC; snapshots are taken here")
    plan: str | None
    interval: str | None
    granularity: str = Field(description="Bucket of `lifecycle`: day, week or month")
    currency: str
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
