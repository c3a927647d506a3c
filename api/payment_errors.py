"""How the API answers a failed payment, whether a workflow command or the API's own
provider call failed: one table, so both paths give the same status for the same failure.

Commands report a failure name (``domain.failures``) and details; the API's own provider
calls raise the gateway's exceptions, which are named the same way here first.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from adapters.payments.base import (
    CardDeclined,
    PaymentError,
    PaymentMethodRequired,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
)
from api.errors import Problem
from domain.failures import (
    CARD_DECLINED,
    IDEMPOTENCY_KEY_REUSED,
    PAYMENT_METHOD_REQUIRED,
    PAYMENT_PROVIDER_UNAVAILABLE,
    PAYMENT_REQUEST_REJECTED,
    TRANSITION_REFUSED,
)

# A failure name the table does not know is a refused transition: the workflow's own
# refusals are the only other failures a command ends with.
_DEFAULT_STATUS = 409
_FAILURE_STATUS: dict[str, int] = {
    TRANSITION_REFUSED: 409,
    CARD_DECLINED: 402,
    PAYMENT_METHOD_REQUIRED: 402,
    PAYMENT_REQUEST_REJECTED: 422,
    IDEMPOTENCY_KEY_REUSED: 422,
    PAYMENT_PROVIDER_UNAVAILABLE: 503,
}
# The problem type of a status, unless the failure has a more precise one below.
_STATUS_TYPE = {
    409: "transition-not-allowed",
    402: "payment-required",
    422: "payment-request-rejected",
    503: "payment-provider-unavailable",
}
# Most specific class first: a subclass must not be named by its base.
_GATEWAY_FAILURES: tuple[tuple[type[PaymentError], str], ...] = (
    (PaymentProviderUnavailable, PAYMENT_PROVIDER_UNAVAILABLE),
    (PaymentRequestRejected, PAYMENT_REQUEST_REJECTED),
    (PaymentMethodRequired, PAYMENT_METHOD_REQUIRED),
    (CardDeclined, CARD_DECLINED),
)


def _failure_name(exc: PaymentError) -> str | None:
    for cls, name in _GATEWAY_FAILURES:
        if isinstance(exc, cls):
            return name
    return None


def command_problem(failure: ApplicationError) -> Problem:
    """The answer to a lifecycle command that failed with ``failure``."""
    status = _FAILURE_STATUS.get(failure.type or "", _DEFAULT_STATUS)
    problem_type = _STATUS_TYPE[status]
    extra: dict[str, Any] = {}
    details = failure.details[0] if failure.details else None
    if failure.type == CARD_DECLINED and isinstance(details, dict):
        problem_type = "card-declined"
        extra = {"code": details.get("code"), "decline_code": details.get("decline_code")}
    elif failure.type == PAYMENT_METHOD_REQUIRED:
        problem_type = "payment-method-required"
    elif failure.type == IDEMPOTENCY_KEY_REUSED:
        problem_type = "idempotency-key-reused"
    return Problem(status, failure.message, type=problem_type, extra=extra)


def payment_problem(exc: PaymentError) -> Problem:
    """The answer to a provider call the API made itself (a preview, Checkout, an address).

    Answered by status alone: these calls never reported the decline code or a missing
    card apart, so a client reads the same problem types as before.
    """
    name = _failure_name(exc)
    # A gateway error of no known kind is still a payment that could not be made as asked.
    status = 402 if name is None else _FAILURE_STATUS[name]
    return Problem(status, str(exc), type=_STATUS_TYPE[status])
