"""Names of the failures a lifecycle command can end with.

Activities raise them, the customer workflow passes them on, the API maps each to an HTTP
answer: one vocabulary for the three layers, so none imports another to learn it.
"""

from __future__ import annotations

# The command is not allowed from the customer's current state (HTTP 409).
TRANSITION_REFUSED = "TransitionRefused"
# The card was declined (402), none is on file (402), or the provider refused the
# request as malformed (422).
CARD_DECLINED = "CardDeclined"
PAYMENT_METHOD_REQUIRED = "PaymentMethodRequired"
PAYMENT_REQUEST_REJECTED = "PaymentRequestRejected"
# The provider did not answer after a few quick retries (503); nothing was charged twice.
PAYMENT_PROVIDER_UNAVAILABLE = "PaymentProviderUnavailable"
# A caller's idempotency key came back with other arguments than the first time (422).
IDEMPOTENCY_KEY_REUSED = "IdempotencyKeyReused"

# Failures a command reports to its caller as they are.
CALLER_FAILURES = frozenset({CARD_DECLINED, PAYMENT_METHOD_REQUIRED, PAYMENT_REQUEST_REJECTED})
