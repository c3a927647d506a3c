"""The Stripe adapter, by concern: the client and caches (``client``), errors and idempotency
keys (``errors``), customers, subscriptions, invoices, hosted pages and the portal
configuration; ``gateway`` puts them together."""

from adapters.payments.stripe.errors import idempotency_key, stripe_errors
from adapters.payments.stripe.gateway import StripeGateway
from adapters.payments.stripe.subscriptions import ADD_REQUEST_METADATA

__all__ = ["ADD_REQUEST_METADATA", "StripeGateway", "idempotency_key", "stripe_errors"]
