"""The real payments gateway: Stripe through the stripe SDK's ``StripeClient`` (async).

Every mutating request carries the caller's idempotency key (or a deterministic sub-key
``<key>:<step>`` when one method makes several mutating requests), so a retried activity
replays Stripe's first answer instead of charging twice. Every request names the engine's
API version (``STRIPE_API_VERSION``, the version of the spec stripe-mock embeds, see
``tests/adapters/payments``), whatever the SDK's own pin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.payments.stripe.checkout_portal import HostedPagesMixin
from adapters.payments.stripe.customers import CustomersMixin
from adapters.payments.stripe.invoices import InvoicesMixin
from adapters.payments.stripe.listing import ListingMixin
from adapters.payments.stripe.subscriptions import SubscriptionsMixin
from adapters.payments.stripe.tax_ids import TaxIdsMixin

if TYPE_CHECKING:
    from core.settings import Settings


class StripeGateway(
    CustomersMixin,
    SubscriptionsMixin,
    InvoicesMixin,
    HostedPagesMixin,
    ListingMixin,
    TaxIdsMixin,
):
    """``PaymentGateway`` on Stripe. One instance per process; prices are cached."""

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway:
        if not settings.stripe_api_key:
            raise ValueError("STRIPE_API_KEY is not set")
        return cls(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            automatic_tax=settings.engine_config.tax.enabled,
        )
