"""Request and response bodies of billing: plan changes, add-ons, payment method, address,
the provider's hosted pages, invoices and the billing page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pycountry
from pydantic import AwareDatetime, BaseModel, Field, HttpUrl, field_validator

from api.customers.schemas import CustomerView
from api.schemas import RequestBody


class SubscriptionRequest(RequestBody):
    plan: str = Field(min_length=1, max_length=64)
    interval: Literal["month", "year"] = "month"
    payment_method: str | None = Field(default=None, min_length=1, max_length=255)
    when: Literal["now", "period_end"] | None = Field(
        default=None, description="Default: upgrades now, downgrades at period end"
    )


class CancelRequest(RequestBody):
    at_period_end: bool = True


class PauseRequest(RequestBody):
    resumes_at: AwareDatetime | None = None


class PaymentMethodRequest(RequestBody):
    payment_method: str = Field(min_length=1, max_length=255)


class BillingAddressRequest(RequestBody):
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


class ReturnUrlRequest(RequestBody):
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


class AddonPurchaseRequest(RequestBody):
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
