"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

import pycountry
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    field_validator,
)

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


# -- billing --------------------------------------------------------------------------


class SubscriptionRequest(_Request):
    plan: str = Field(min_length=1, max_length=64)
    interval: Literal["month", "year"] = "month"
    payment_method: str | None = Field(default=None, min_length=1, max_length=255)
    when: Literal["now", "period_end"] | None = Field(
        default=None, description="Default: upgrades now, downgrades at period end"
    )


class CancelRequest(_Request):
    at_period_end: bool = True


class PauseRequest(_Request):
    resumes_at: AwareDatetime | None = None


class PaymentMethodRequest(_Request):
    payment_method: str = Field(min_length=1, max_length=255)


class BillingAddressRequest(_Request):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    state: str | None = Field(default=None, max_length=100)
    country: str = Field(description="ISO 3166-1 alpha-2 code, e.g. DE")

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. 'DE' or 'US'")
        return code


class ReturnUrlRequest(_Request):
    return_url: HttpUrl


class CheckoutRequest(ReturnUrlRequest):
    plan: str | None = Field(default=None, min_length=1, max_length=64)
    interval: Literal["month", "year"] = "month"


class UrlView(BaseModel):
    url: str


class PreviewLine(BaseModel):
    description: str
    amount_cents: int
    proration: bool
    period_start: datetime | None
    period_end: datetime | None


class PreviewView(BaseModel):
    plan: str
    interval: str
    currency: str
    amount_due_now_cents: int
    next_invoice_amount_cents: int | None
    next_invoice_at: datetime | None
    lines: list[PreviewLine]


class InvoiceView(BaseModel):
    id: str
    number: str | None
    status: str
    currency: str
    subtotal_cents: int
    total_cents: int
    amount_due_cents: int
    amount_paid_cents: int
    amount_remaining_cents: int
    billing_reason: str | None
    period_start: datetime | None
    period_end: datetime | None
    created_at: datetime
    paid_at: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None


class PaymentMethodView(BaseModel):
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


class PlanOption(BaseModel):
    plan: str
    name: str
    monthly_price_cents: int | None
    annual_price_cents: int | None
    annual_saving_cents: int | None
    limits: dict[str, int | None]
    current: bool


class NextInvoiceView(BaseModel):
    amount_cents: int
    at: datetime
    plan: str
    interval: str


class BillingView(BaseModel):
    customer: CustomerView
    status: str
    plan: str
    plan_name: str
    interval: str | None
    trial_days_left: int | None
    mrr_cents: int
    currency: str
    next_invoice: NextInvoiceView | None
    payment_method: PaymentMethodView | None
    billing_address: dict[str, Any] | None
    recent_invoices: list[InvoiceView]
    plans: list[PlanOption]


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool
    status: str


class TestClockAdvance(_Request):
    customer_id: str = Field(min_length=1)
    to: Literal["period_end"] = "period_end"


class TestClockResult(BaseModel):
    events: list[str]
    customer: CustomerView


class CheckoutCompletion(_Request):
    payment_method: str = Field(default="pm_card_visa", min_length=1)


class NotificationView(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    cta_label: str | None
    cta_url: str | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class AddonPurchaseRequest(_Request):
    addon: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=100)


class HeldAddonView(BaseModel):
    addon: str
    kind: str
    quantity: int
    # One-off packs apply to one billing period.
    period_start: datetime | None
    period_end: datetime | None


class AddonsView(BaseModel):
    customer: CustomerView
    addons: list[HeldAddonView]


class TrialExtensionRequest(_Request):
    days: int = Field(ge=1, le=90, description="Days to add to the trial (1-90)")
    reason: str = Field(min_length=1, max_length=500)


class CustomerPage(BaseModel):
    data: list[CustomerView]
    # Pass as ?cursor= for the next page; null on the last page.
    next_cursor: str | None


class AuditRowView(BaseModel):
    id: int
    occurred_at: datetime
    recorded_at: datetime
    customer_id: str | None
    kind: str
    actor: str
    from_status: str | None
    to_status: str | None
    plan: str | None
    interval: str | None
    mrr_delta_cents: int
    data: dict[str, Any]
    event_key: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    data: list[AuditRowView]
    next_cursor: str | None


class ErasureView(BaseModel):
    customer_id: str
    erased: bool
    already_erased: bool
