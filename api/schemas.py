"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field

T = TypeVar("T")


class _Request(BaseModel):
    # Unknown fields are a client bug worth naming, not something to drop silently.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerCreate(_Request):
    external_id: str = Field(min_length=1, max_length=255, description="Your id for the customer")
    email: EmailStr
    name: str | None = Field(default=None, max_length=255)


class CustomerView(BaseModel):
    id: str
    external_id: str
    email: str | None
    name: str | None
    status: str
    plan: str
    interval: str | None
    trial_ends_at: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    scheduled_change: dict[str, Any] | None
    created_at: datetime


class PlanPrice(BaseModel):
    interval: str
    amount_cents: int


class PlanView(BaseModel):
    id: str
    name: str
    self_serve: bool
    currency: str
    # None for sales-led plans priced per contract.
    monthly_price_cents: int | None
    annual_price_cents: int | None
    annual_saving_cents: int | None
    annual_saving_percent: int | None
    limits: dict[str, int | None]
    features: list[str]


class AddonView(BaseModel):
    id: str
    name: str
    kind: str
    price_cents: int
    metric: str | None
    amount: int


class CatalogView(BaseModel):
    currency: str
    annual_discount_percent: int
    plans: list[PlanView]
    addons: list[AddonView]


class EmailView(BaseModel):
    id: int
    template: str
    to: str | None
    subject: str | None
    status: str
    data: dict[str, Any]
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class LedgerEventView(BaseModel):
    id: int
    kind: str
    actor: str
    from_status: str | None
    to_status: str | None
    plan: str | None
    interval: str | None
    mrr_delta_cents: int
    data: dict[str, Any]
    occurred_at: datetime


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
