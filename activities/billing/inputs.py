"""What the workflow sends the billing activities and what they answer (the activities'
payloads, recorded in every workflow history: fields are only ever added, with defaults)."""

# No ``from __future__ import annotations`` here: these types are decoded inside the
# workflow sandbox, whose module table holds ``activities.billing`` (passed through) but
# not this submodule, so string annotations could not be resolved there.
from dataclasses import dataclass
from datetime import datetime

from adapters.payments.base import ProrationBehavior
from domain.lifecycle import BillingInterval
from domain.payments import SubscriptionInfo


@dataclass(frozen=True)
class EnsureProviderCustomerInput:
    customer_id: str
    idempotency_key: str


@dataclass(frozen=True)
class EraseProviderCustomerInput:
    customer_id: str
    idempotency_key: str
    # Known to the workflow; else looked up (Checkout or the portal may have created one).
    provider_customer_id: str | None = None


@dataclass(frozen=True)
class AttachPaymentMethodInput:
    customer_id: str
    provider_customer_id: str
    payment_method: str
    idempotency_key: str
    # Set when there is a subscription: its own card is replaced too, or its invoices
    # (dunning retries among them) would keep charging the old one.
    subscription_id: str | None = None


@dataclass(frozen=True)
class CreateSubscriptionInput:
    customer_id: str
    provider_customer_id: str
    plan: str
    interval: BillingInterval
    idempotency_key: str
    coupon: str | None = None


@dataclass(frozen=True)
class ChangePriceInput:
    customer_id: str
    subscription_id: str
    plan: str
    interval: BillingInterval
    proration: ProrationBehavior
    idempotency_key: str


@dataclass(frozen=True)
class SchedulePriceChangeInput:
    customer_id: str
    subscription_id: str
    plan: str
    interval: BillingInterval
    idempotency_key: str


@dataclass(frozen=True)
class SubscriptionCommandInput:
    """cancel (now / at period end), reactivate, pause, resume, drop a scheduled change,
    apply a coupon to the next invoice."""

    customer_id: str
    subscription_id: str
    command: str
    idempotency_key: str
    at_period_end: bool = False
    resumes_at: datetime | None = None
    coupon: str | None = None


@dataclass(frozen=True)
class FetchSubscriptionInput:
    customer_id: str
    subscription_id: str


@dataclass(frozen=True)
class PurchaseAddonInput:
    customer_id: str
    provider_customer_id: str
    subscription_id: str
    addon: str
    kind: str
    lookup_key: str
    quantity: int
    idempotency_key: str
    # The billing period a one-off pack belongs to.
    period_start: datetime | None = None
    period_end: datetime | None = None
    # The card a one-off pack is charged to: the one the subscription pays with (a Checkout
    # customer has no default card of its own).
    payment_method: str | None = None


@dataclass(frozen=True)
class PurchaseAddonResult:
    amount_paid_cents: int
    invoice_id: str | None
    subscription: SubscriptionInfo | None = None


@dataclass(frozen=True)
class SyncPaymentMethodInput:
    customer_id: str
    provider_customer_id: str
    # The subscription's own card wins over the customer's default (Checkout saves it there).
    subscription_id: str | None = None


@dataclass(frozen=True)
class FetchInvoiceInput:
    customer_id: str
    invoice_id: str


@dataclass(frozen=True)
class InvoiceCommandInput:
    """pay (a dunning retry) or write off an open invoice."""

    customer_id: str
    invoice_id: str
    command: str
    idempotency_key: str
