"""Stripe's errors as the gateway's, and the idempotency keys every mutating request carries.

Messages are rebuilt from codes and ids only: Stripe's own messages may quote what was sent
(an email address, a name), and these errors end up in Temporal histories and logs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import stripe

from adapters.payments.base import CardDeclined, PaymentProviderUnavailable, PaymentRequestRejected

if TYPE_CHECKING:
    from stripe import RequestOptions

# Stripe refuses longer keys with a 400 (callers build theirs from ids, URLs, addresses).
MAX_IDEMPOTENCY_KEY = 255


def idempotency_key(key: str) -> str:
    """``key`` itself when Stripe accepts it, else a readable prefix and a digest of the whole:
    still deterministic (a retry replays), still distinct for distinct keys."""
    if len(key) <= MAX_IDEMPOTENCY_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: MAX_IDEMPOTENCY_KEY - len(digest) - 1]}~{digest}"


def options(key: str) -> RequestOptions:
    return {"idempotency_key": idempotency_key(key)}


def _describe(err: stripe.StripeError) -> str:
    parts = [type(err).__name__]
    if err.http_status:
        parts.append(f"HTTP {err.http_status}")
    if err.code:
        parts.append(f"code {err.code}")
    param = getattr(err, "param", None)
    if param:
        parts.append(f"param {param}")
    if err.request_id:
        parts.append(f"request {err.request_id}")
    return ", ".join(parts)


@contextmanager
def stripe_errors(operation: str) -> Iterator[None]:
    """Translate the SDK's exceptions into the gateway's, without Stripe's messages.

    ``from None``: the original exception (whose message may carry personal data) is not
    chained, so it never reaches a Temporal failure or a log line through ``__cause__``.
    """
    try:
        yield
    except stripe.CardError as err:
        code = err.code or "card_declined"
        decline = (err.error.decline_code if err.error else None) or code
        raise CardDeclined(
            f"{operation}: the card was declined ({decline})", code=code, decline_code=decline
        ) from None
    except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as err:
        raise PaymentProviderUnavailable(
            f"{operation}: Stripe is unavailable ({_describe(err)})"
        ) from None
    except (
        stripe.InvalidRequestError,
        stripe.AuthenticationError,
        stripe.PermissionError,
        stripe.IdempotencyError,
    ) as err:
        error_type = err.error.type if err.error else None
        raise PaymentRequestRejected(
            f"{operation}: Stripe rejected the request ({_describe(err)})",
            code=err.code or error_type or type(err).__name__,
        ) from None
    except stripe.StripeError as err:
        raise PaymentRequestRejected(
            f"{operation}: Stripe error ({_describe(err)})", code=err.code
        ) from None


def is_missing_payment_method(err: stripe.StripeError) -> bool:
    # Stripe answers a subscription for a customer without a default payment method with
    # an invalid_request_error that has no dedicated code; recognise it by its text (used
    # only to choose the exception, never copied).
    message = (err.user_message or "").lower()
    return isinstance(err, stripe.InvalidRequestError) and (
        "no attached payment source" in message or "default payment method" in message
    )
