"""What the engine and the payment provider exchange: prices by lookup key, customers'
payment methods, invoices, subscriptions and the provider's event notices. Plain values
(ids, amounts, times; no email, name or address), shared by the workflows, the activities
and the adapters that implement ``adapters.payments.base.PaymentGateway``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.lifecycle import BillingInterval

PLAN_PRICE_PREFIX = "plan_"
ADDON_PRICE_PREFIX = "addon_"


# Separates a plan price's lookup key from its price book; no plan id or interval has it.
PRICE_BOOK_SEPARATOR = "@"


@dataclass(frozen=True)
class PriceRef:
    """A catalog plan price, found in Stripe by its lookup key: ``plan_<plan>_<interval>``
    in the list prices, ``plan_<plan>_<interval>@<book>`` in another price book (an
    experiment variant's, ``<experiment>.<variant>``)."""

    plan: str
    interval: BillingInterval
    book: str | None = None

    @property
    def lookup_key(self) -> str:
        key = f"{PLAN_PRICE_PREFIX}{self.plan}_{self.interval.value}"
        return key if self.book is None else f"{key}{PRICE_BOOK_SEPARATOR}{self.book}"

    @classmethod
    def from_lookup_key(cls, key: str | None) -> PriceRef | None:
        if not key or not key.startswith(PLAN_PRICE_PREFIX):
            return None
        price, separator, book = key.partition(PRICE_BOOK_SEPARATOR)
        if separator and not book:
            return None
        plan, _, interval = price[len(PLAN_PRICE_PREFIX) :].rpartition("_")
        try:
            return cls(plan=plan, interval=BillingInterval(interval), book=book or None)
        except ValueError:
            return None


def addon_lookup_key(addon: str, interval: BillingInterval | None = None) -> str:
    """``addon_<id>_<interval>`` for recurring add-ons, ``addon_<id>`` for one-off ones."""
    return f"{ADDON_PRICE_PREFIX}{addon}" + (f"_{interval.value}" if interval else "")


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class PaymentMethodInfo:
    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    amount_cents: int
    proration: bool
    period_start: datetime | None
    period_end: datetime | None
    price_lookup_key: str | None = None
    quantity: int = 1
    # ``pricing.price_details.price``: an id unless expanded (the gateway maps ids to
    # lookup keys; Stripe's expansion depth stops short of it on an invoice's lines).
    price_id: str | None = None


@dataclass(frozen=True)
class InvoiceInfo:
    id: str
    customer: str
    subscription: str | None
    number: str | None
    # draft, open, paid, uncollectible, void
    status: str
    currency: str
    subtotal_cents: int
    total_cents: int
    amount_due_cents: int
    amount_paid_cents: int
    amount_remaining_cents: int
    # subscription_create, subscription_cycle, subscription_update, manual, ...
    billing_reason: str | None
    created: datetime
    period_start: datetime | None = None
    period_end: datetime | None = None
    paid_at: datetime | None = None
    hosted_invoice_url: str | None = None
    invoice_pdf: str | None = None
    attempt_count: int = 0
    next_payment_attempt: datetime | None = None
    # Set when the last payment attempt failed: Stripe keeps it on the PaymentIntent of the
    # invoice's latest payment (``payments.data.payment.payment_intent.last_payment_error``),
    # read only when that is expanded.
    decline_code: str | None = None
    lines: tuple[InvoiceLine, ...] = ()
    # The latest payment's PaymentIntent and whether it waits for the customer
    # (``requires_action``: 3-D Secure; the hosted invoice page completes it).
    payment_intent: str | None = None
    requires_action: bool = False
    # Tax (issue 15): the invoice's tax, its breakdown per rate, the buyer's tax ids as
    # the invoice shows them, and whether the buyer accounts for the VAT (reverse charge).
    # ``subtotal_cents`` and ``total_cents`` are Stripe's: tax-exclusive prices add the tax
    # to the total, inclusive ones hold it; ``total_excluding_tax_cents`` is the net.
    tax_cents: int = 0
    total_excluding_tax_cents: int | None = None
    taxes: tuple[InvoiceTaxInfo, ...] = ()
    customer_tax_ids: tuple[tuple[str, str], ...] = ()
    reverse_charge: bool = False


@dataclass(frozen=True)
class InvoiceTaxInfo:
    """One entry of an invoice's ``total_taxes``: a rate (expanded where the provider sent
    it) and the amount of tax at that rate."""

    amount_cents: int
    taxable_amount_cents: int | None
    tax_behavior: str
    taxability_reason: str
    tax_rate: str | None = None
    display_name: str | None = None
    percentage: str | None = None
    jurisdiction: str | None = None


@dataclass(frozen=True)
class SubscriptionItemInfo:
    id: str
    price_lookup_key: str | None
    quantity: int


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    customer: str
    # Stripe's subscription status: incomplete, trialing, active, past_due, canceled,
    # unpaid, paused.
    status: str
    # The plan price; add-on prices are among ``items``.
    price: PriceRef | None
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None = None
    # pause_collection: set while paused; None when collecting.
    paused: bool = False
    pause_resumes_at: datetime | None = None
    # A change scheduled for the next period (a subscription schedule's next phase).
    scheduled_price: PriceRef | None = None
    items: tuple[SubscriptionItemInfo, ...] = ()
    latest_invoice: InvoiceInfo | None = None
    # The customer's own id in the engine (metadata.customer_id), when Stripe knows it.
    engine_customer_id: str | None = None
    # When a scheduled cancellation takes effect. In flexible billing mode the Customer
    # Portal sets ``cancel_at`` (to the period end) and leaves ``cancel_at_period_end``
    # false; ``cancel_at_period_end`` above is true for either.
    cancel_at: datetime | None = None
    # ``cancellation_details.reason``: cancellation_requested, payment_failed,
    # payment_disputed (the last two are involuntary churn).
    cancellation_reason: str | None = None
    # The subscription's own card, which wins over the customer's default for its invoices
    # (Checkout in subscription mode saves the card here).
    default_payment_method: str | None = None
    # What it is billed in (lower-case ISO 4217); fixes the customer's currency.
    currency: str | None = None


@dataclass(frozen=True)
class InvoicePreview:
    amount_due_now_cents: int
    currency: str
    lines: tuple[InvoiceLine, ...]
    next_invoice_amount_cents: int | None
    next_invoice_at: datetime | None


@dataclass(frozen=True)
class CatalogSyncReport:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    # Objects that exist in Stripe but differ in a way that cannot be updated in place.
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaymentEvent:
    """A provider event (a Stripe webhook), parsed and stripped of personal data.

    Stripe delivers events in no particular order, more than once, and up to three days
    late, so an event is a notice that an object changed, not a statement of its state: the
    engine reads the object's current state from the provider (``subscription_id``,
    ``invoice_id``) and never decides by ``created``. Events from the API carry ids only;
    ``subscription`` and ``invoice`` are filled in histories recorded before that.
    """

    id: str
    type: str
    created: datetime
    provider_customer_id: str | None
    # The engine's customer id when the event names it (metadata or client_reference_id).
    engine_customer_id: str | None = None
    subscription: SubscriptionInfo | None = None
    invoice: InvoiceInfo | None = None
    # checkout.session.*: the subscription the session created.
    checkout_subscription_id: str | None = None
    payment_method: PaymentMethodInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The object the event is about: its Stripe type and id (``invoice``, ``in_...``).
    object_type: str | None = None
    object_id: str | None = None
    # The subscription the event concerns (the object itself, an invoice's parent, a
    # schedule's subscription).
    subscription_id: str | None = None
    invoice_id: str | None = None
    # The endpoint's API version the payload was rendered at.
    api_version: str | None = None
