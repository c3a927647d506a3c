"""Bodies of the pricing experiments' admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class EstimateView(BaseModel):
    value: float
    # The confidence interval at the experiment's 1 - alpha.
    ci_low: float
    ci_high: float
    # The sample the estimate stands on.
    n: int


class ComparisonView(BaseModel):
    """Variant minus control."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


class MetricView(BaseModel):
    estimate: EstimateView
    # None for the control, or while either side has no sample.
    vs_control: ComparisonView | None


class VariantResultView(BaseModel):
    variant: str
    control: bool
    weight: int
    changes: str
    visitors: int
    signups: int
    trial_conversion: MetricView
    arpu_cents: MetricView
    churn_30d: MetricView
    churn_60d: MetricView
    churn_90d: MetricView
    revenue_per_visitor_cents: MetricView
    decline_rate: MetricView
    # The smallest effect the sample finds at the experiment's power: a rise in trial
    # conversion (absolute) and of ARPU (cents). None for the control.
    conversion_mde: float | None
    arpu_mde_cents: float | None
    # The power to find the conversion difference observed, were it the true one.
    conversion_power: float | None


class GuardrailBreachView(BaseModel):
    variant: str
    metric: str
    difference: float
    margin: float
    p_value: float


class VariantView(BaseModel):
    id: str
    weight: int
    changes: str
    # The provider price book of a variant that changes amounts.
    price_book: str | None


class ExperimentView(BaseModel):
    id: str
    name: str
    # draft | running | stopped | rolled_out: an operator's stop or rollout over the config.
    state: str
    config_status: str
    winner: str | None
    changed_by: str | None
    changed_at: datetime | None
    control: str
    variants: list[VariantView]
    # Assignments drawn by the experiment, and sign-ups after a rollout (pinned to the
    # winner, left out of the results).
    signups: int
    rollout_signups: int
    visitors: int


class ExperimentResultsView(BaseModel):
    experiment: ExperimentView
    alpha: float
    power: float
    variants: list[VariantResultView]
    guardrail_breaches: list[GuardrailBreachView]
    computed_at: datetime


class RolloutRequest(BaseModel):
    variant: str = Field(min_length=1, max_length=64)


class MigrateRequest(BaseModel):
    """A subscribed customer moves with a plan change (the existing change path); a
    trialing or canceled one is just released and converts at today's prices."""

    plan: str | None = Field(default=None, min_length=1, max_length=64)
    interval: Literal["month", "year"] | None = None
    when: Literal["now", "period_end"] | None = None


class MigrationView(BaseModel):
    experiment: str
    customer_id: str
    # The variant the customer was held to.
    variant: str
    # "released": converts or changes plan at today's terms next; "changed": moved now.
    outcome: Literal["released", "changed"]
