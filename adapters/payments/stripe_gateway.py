"""Where the Stripe gateway has always been imported from; it lives in
``adapters.payments.stripe`` (split by concern)."""

from adapters.payments.stripe import (
    ADD_REQUEST_METADATA,
    StripeGateway,
    idempotency_key,
    stripe_errors,
)

__all__ = ["ADD_REQUEST_METADATA", "StripeGateway", "idempotency_key", "stripe_errors"]
