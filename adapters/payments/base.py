"""The payments interface: what the engine asks of Stripe, and what it gets back.

Two implementations: ``StripeGateway`` (the stripe SDK's ``StripeClient``) and
``SimulatedGateway`` (embedded, state in the app database, Stripe's test cards and a
test clock). Every mutating call takes an idempotency key derived from stable ids, so a
retried activity never charges twice. Values crossing this interface carry ids, amounts
and times only: no email, name or address comes back out of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from domain.payments import (
    Address,
    InvoiceInfo,
    InvoicePreview,
    PaymentMethodInfo,
    PriceRef,
    SubscriptionInfo,
)

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

    async def add_tax_id(
        self, provider_customer_id: str, type_: str, value: str, *, idempotency_key: str
    ) -> str:
        """Add a tax id (Stripe's type: ``eu_vat``...) to the customer; its provider id.
        Raises ``PaymentRequestRejected`` (``tax_id_invalid``) for a malformed number."""
        ...

    async def delete_tax_id(self, provider_customer_id: str, tax_id: str) -> None:
        """Remove one (already gone: nothing to do)."""
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
        currency: str | None = None,
    ) -> SubscriptionInfo:
        """Subscribe and charge the first period now, in ``currency`` (the price's
        ``currency_options`` amount; None: the customer's, else the price's own). Raises
        ``CardDeclined`` (nothing is left behind: no incomplete subscription),
        ``PaymentMethodRequired``, or ``PaymentRequestRejected`` for a currency other than
        the one the customer already pays in."""
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

    async def apply_coupon(
        self, subscription_id: str, *, coupon: str, idempotency_key: str
    ) -> SubscriptionInfo:
        """A discount on the subscription's next invoice (a coupon of duration ``once``);
        it replaces any discount the subscription had."""
        ...

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

    async def list_all_invoices(self) -> list[InvoiceInfo]:
        """Every invoice of every customer (all pages), for reconciliation; the payments'
        PaymentIntents are ids."""
        ...

    async def list_all_subscriptions(self) -> list[SubscriptionInfo]:
        """Every subscription of every customer, ended ones included (all pages), for
        reconciliation; without the latest invoice or the scheduled change."""
        ...

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
        currency: str | None = None,
        country: str | None = None,
    ) -> str:
        """A Stripe Checkout session in subscription mode, charging in ``currency`` (as
        ``create_subscription``); returns its URL. It offers the payment methods that suit
        the currency and the customer's ``country`` (``domain.payment_methods``)."""
        ...

    async def create_portal_session(self, *, provider_customer_id: str, return_url: str) -> str:
        """A Customer Portal session; returns its URL."""
        ...
