"""Request and response bodies of usage metering, entitlement checks and limits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictInt

from api.schemas import RequestBody

MAX_EVENTS_PER_REQUEST = 1000

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customer_id", "metric", "quantity", "idempotency_key"],
    "properties": {
        "customer_id": {"type": "string", "maxLength": 36},
        "metric": {"type": "string", "enum": ["chatbots", "messages", "tokens", "api_calls"]},
        "quantity": {
            "type": "integer",
            "description": "A positive integer for counters; +1 / -1 for the chatbots gauge",
        },
        "idempotency_key": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "A repeated key (per customer) is counted once",
        },
        "occurred_at": {
            "type": "string",
            "format": "date-time",
            "description": "When it happened (default: when recorded); sets the daily bucket",
        },
    },
}


class UsageBatch(RequestBody):
    # Items are validated one by one (a bad event is rejected, the rest recorded), so the
    # list takes any JSON value; the documented shape is the object below.
    events: list[Any] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_REQUEST,
        json_schema_extra={"items": _EVENT_SCHEMA},
    )


class UsageRejection(BaseModel):
    index: int
    idempotency_key: str | None
    # unknown_customer | unknown_metric | invalid_quantity | invalid_idempotency_key |
    # invalid_customer_id | invalid_occurred_at | invalid_event
    code: str
    reason: str


class UsageIngestResult(BaseModel):
    accepted: int = Field(description="Events recorded by this request")
    duplicates: int = Field(description="Valid events whose key was already recorded")
    rejected: list[UsageRejection]


class EntitlementCheck(RequestBody):
    metric: str | None = Field(default=None, max_length=32)
    feature: str | None = Field(default=None, max_length=64)
    quantity: StrictInt = Field(
        default=1, description="Counters: a positive integer; chatbots: +1 / -1"
    )
    consume: StrictBool = Field(
        default=False, description="Record the quantity if allowed, atomically with the check"
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Required with consume; a retry with the same key consumes once",
    )


class UpgradeView(BaseModel):
    reason: str = Field(description="forecast | grace_history")
    metrics: list[str] = Field(description="Metrics projected past their limit")
    plan: str | None
    addon: str | None
    addon_quantity: int | None
    price_difference_cents: int | None = Field(
        description="Added cost per month (None for a sales-led plan)"
    )
    projected: dict[str, int]


class EntitlementDecision(BaseModel):
    metric: str
    quantity: int
    allowed: bool
    consumed: bool = Field(description="This call recorded the quantity")
    duplicate: bool = Field(description="The key was already recorded; nothing consumed again")
    state: str = Field(description="ok | warning | grace | blocked, with the quantity applied")
    used: int
    limit: int | None
    remaining: int | None
    period_start: datetime | None
    period_end: datetime | None
    upgrade: UpgradeView | None = None


class FeatureDecision(BaseModel):
    feature: str
    allowed: bool


class MetricUsage(BaseModel):
    metric: str
    used: int
    limit: int | None
    remaining: int | None
    percent: int | None
    state: str
    # None for the chatbots gauge, which never resets.
    period_start: datetime | None
    period_end: datetime | None
    forecast: int = Field(
        description="Projected usage at the period end, by the method in forecast_method"
    )
    forecast_low: int = Field(description="Lower bound of the 80 % interval")
    forecast_high: int = Field(description="Upper bound of the 80 % interval")
    forecast_method: str = Field(
        description="weekday (each remaining day at its weekday's recent mean) or "
        "straight_line (the current rate), whichever forecast this metric's last periods "
        "better; level for the chatbots gauge"
    )
    forecast_backtest: dict[str, float] = Field(
        description="Each method's mean absolute percentage error on the metric's last "
        "periods, forecast from their midpoints"
    )


class UsageView(BaseModel):
    customer_id: str
    status: str
    plan: str
    period_start: datetime
    period_end: datetime
    metrics: list[MetricUsage]
    features: list[str]
    upgrade: UpgradeView | None = None


class PeriodUsage(BaseModel):
    period_start: datetime | None
    period_end: datetime | None
    used: int
    current: bool
    grace_reached_at: datetime | None


class DailyUsage(BaseModel):
    day: date
    quantity: int


class MetricHistory(BaseModel):
    metric: str
    periods: list[PeriodUsage] = Field(description="Newest first")
    daily: list[DailyUsage] = Field(description="Oldest first, since the oldest period listed")


class UsageHistoryView(BaseModel):
    customer_id: str
    metrics: list[MetricHistory]


class LimitsView(BaseModel):
    customer_id: str
    overrides: dict[str, int | None] = Field(description="Admin overrides (None: unlimited)")
    limits: dict[str, int | None] = Field(description="Effective limits for the current period")
