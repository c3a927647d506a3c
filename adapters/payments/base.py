"""The payments interface: what the engine asks of Stripe, and what it gets back.

Two implementations: ``StripeGateway`` (the stripe SDK's ``StripeClient``) and
``SimulatedGateway`` (embedded, state in the app database, Stripe's test cards and a
test clock). Every mutating call takes an idempotency key derived from stable ids, so a
retried activity never charges twice. Values crossing this interface carry ids, amounts
and times only: no email, name or address comes back out of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from domain.lifecycle import BillingInterval

ProrationBehavior = Literal["always_invoice", "none"]

# The one Stripe API version the engine speaks: the SDK sends it on every request, the
# simulator renders it, and the webhook endpoint must be created at it. It is the version of
# the OpenAPI spec embedded in the pinned stripe-mock (v0.203.0), so the contract tests
# check the shapes the code reads against Stripe's own published spec and fixtures.
STRIPE_API_VERSION = "2026-08-26.dahlia"


# -- errors ---------------------------------------------------------------------------


class PaymentError(Exception):
    """Base of every error the gateway raises."""


class CardDeclined(PaymentError):
    """The card was declined. Not worth retrying: the customer must act."""

    def __init__(self, message: str, *, code: str, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        # Stripe's decline code (``generic_decline``, ``insufficient_funds``, ...).
        self.decline_code = decline_code or code


class PaymentMethodRequired(PaymentError):
    """There is no usable payment method on file for the charge."""


class PaymentProviderUnavailable(PaymentError):
    """Rate limited, 5xx or unreachable: retry with backoff."""


class PaymentRequestRejected(PaymentError):
    """The provider refused the request as invalid (a bug or a stale id): do not retry."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


# -- values ---------------------------------------------------------------------------


PLAN_PRICE_PREFIX = "plan_"
ADDON_PRICE_PREFIX = "addon_"


@dataclass(frozen=True)
class PriceRef:
    """A catalog plan price, found in Stripe by its lookup key ``plan_<plan>_<interval>``."""

    plan: str
    interval: BillingInterval

    @property
    def lookup_key(self) -> str:
        return f"{PLAN_PRICE_PREFIX}{self.plan}_{self.interval.value}"

    @classmethod
    def from_lookup_key(cls, key: str | None) -> PriceRef | None:
        if not key or not key.startswith(PLAN_PRICE_PREFIX):
            return None
        plan, _, interval = key[len(PLAN_PRICE_PREFIX) :].rpartition("_")
        try:
            return cls(plan=plan, interval=BillingInterval(interval))
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


# -- the interface ------------------------------------------------------------------


class PaymentGateway(Protocol):
    name: str

    async def ensure_customer(
        self,
        *,
        customer_id: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> str:
        """Create the provider customer (metadata ``customer_id``); returns its id."""
        ...

    async def update_customer(
        self,
        provider_customer_id: str,
        *,
        idempotency_key: str,
        email: str | None = None,
        name: str | None = None,
        address: Address | None = None,
    ) -> None: ...

    async def erase_customer(self, provider_customer_id: str, *, idempotency_key: str) -> None:
        """Delete the provider customer's personal data (GDPR erasure)."""
        ...

    async def default_payment_method(
        self, provider_customer_id: str, *, subscription_id: str | None = None
    ) -> PaymentMethodInfo | None:
        """The card the subscription's invoices are charged to now: the subscription's
        ``default_payment_method`` (set by Checkout) when it has one, else the customer's
        ``invoice_settings.default_payment_method`` (it may have changed in the Portal)."""
        ...

    async def attach_payment_method(
        self,
        provider_customer_id: str,
        payment_method: str,
        *,
        idempotency_key: str,
        subscription_id: str | None = None,
    ) -> PaymentMethodInfo:
        """Attach and make it the default for invoices: the customer's, and the
        subscription's when given (its own card would win otherwise). Raises
        ``CardDeclined``."""
        ...

    async def create_subscription(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        idempotency_key: str,
        coupon: str | None = None,
    ) -> SubscriptionInfo:
        """Subscribe and charge the first period now. Raises ``CardDeclined`` (nothing is
        left behind: no incomplete subscription) or ``PaymentMethodRequired``."""
        ...

    async def change_price(
        self,
        subscription_id: str,
        price: PriceRef,
        *,
        proration: ProrationBehavior,
        idempotency_key: str,
    ) -> SubscriptionInfo:
        """Swap the plan price now. With ``always_invoice`` the proration is invoiced and
        charged at once; a decline raises ``CardDeclined`` and leaves the price as it was."""
        ...

    async def schedule_price_change(
        self, subscription_id: str, price: PriceRef, *, idempotency_key: str
    ) -> SubscriptionInfo:
        """Switch to ``price`` at the end of the current period (no proration)."""
        ...

    async def cancel_scheduled_change(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo: ...

    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> SubscriptionInfo: ...

    async def reactivate_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        """Undo a cancellation at period end."""
        ...

    async def pause_subscription(
        self, subscription_id: str, *, resumes_at: datetime | None, idempotency_key: str
    ) -> SubscriptionInfo:
        """``pause_collection`` with behavior ``void``: no invoices are collected."""
        ...

    async def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo: ...

    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        """The subscription now, with its latest invoice and any scheduled price change."""
        ...

    async def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        """The invoice now, with the decline code and ``requires_action`` of its latest
        payment (``payments.data.payment.payment_intent`` expanded)."""
        ...

    async def invoice_for_payment_intent(self, payment_intent_id: str) -> str | None:
        """The invoice a PaymentIntent paid (``invoice_payments``), for refunds and
        disputes: a Charge no longer names its invoice."""
        ...

    async def preview_change(
        self,
        *,
        provider_customer_id: str,
        subscription_id: str | None,
        price: PriceRef,
        proration: ProrationBehavior,
    ) -> InvoicePreview:
        """What changing to ``price`` would invoice now and next, without changing anything."""
        ...

    async def list_invoices(
        self, provider_customer_id: str, *, limit: int = 24
    ) -> list[InvoiceInfo]: ...

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceInfo:
        """Attempt payment of an open invoice now. Raises ``CardDeclined``."""
        ...

    async def add_subscription_item(
        self, subscription_id: str, lookup_key: str, quantity: int, *, idempotency_key: str
    ) -> SubscriptionInfo:
        """Add ``quantity`` of a recurring add-on price to the subscription (raising the
        quantity when the item exists), prorated and charged now. Raises ``CardDeclined``
        and then changes nothing."""
        ...

    async def charge_one_off(
        self,
        provider_customer_id: str,
        lookup_key: str,
        quantity: int,
        *,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> InvoiceInfo:
        """Invoice a one-time price now and charge it (a message pack): to
        ``payment_method`` when given (the subscription's own card: a customer converted in
        Checkout has no default of its own), else the customer's default. Raises
        ``CardDeclined`` and then leaves nothing payable behind."""
        ...

    async def mark_invoice_uncollectible(
        self, invoice_id: str, *, idempotency_key: str
    ) -> InvoiceInfo:
        """Write off an open invoice (dunning gave up); a paid one is answered as it is."""
        ...

    async def create_checkout_session(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        coupon: str | None = None,
    ) -> str:
        """A Stripe Checkout session in subscription mode; returns its URL."""
        ...

    async def create_portal_session(self, *, provider_customer_id: str, return_url: str) -> str:
        """A Customer Portal session; returns its URL."""
        ...
