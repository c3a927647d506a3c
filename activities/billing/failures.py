"""The provider's final errors (a decline, no payment method, a refused request) as
non-retryable activity failures the workflow reads by type; charges counted by outcome."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from adapters.payments.base import CardDeclined, PaymentMethodRequired, PaymentRequestRejected
from core.metrics import CHARGES
from domain.failures import CARD_DECLINED, PAYMENT_METHOD_REQUIRED, PAYMENT_REQUEST_REJECTED


def payment_failure(exc: Exception) -> ApplicationError:
    """Provider errors the workflow must see as final: a decline is the customer's to fix."""
    if isinstance(exc, CardDeclined):
        return ApplicationError(
            str(exc),
            {"code": exc.code, "decline_code": exc.decline_code},
            type=CARD_DECLINED,
            non_retryable=True,
        )
    if isinstance(exc, PaymentMethodRequired):
        return ApplicationError(str(exc), type=PAYMENT_METHOD_REQUIRED, non_retryable=True)
    assert isinstance(exc, PaymentRequestRejected)
    return ApplicationError(
        str(exc), {"code": exc.code}, type=PAYMENT_REQUEST_REJECTED, non_retryable=True
    )


_FINAL = (CardDeclined, PaymentMethodRequired, PaymentRequestRejected)


@contextmanager
def final_failures(charge: str | None = None) -> Iterator[None]:
    """Around a provider call: its final errors become non-retryable activity failures
    (others, like an outage, stay retryable). A call that charges names its ``charge``
    operation: its outcome is counted (``lifecycle_charges_total``)."""
    try:
        yield
    except _FINAL as exc:
        if charge is not None:
            outcome = "declined" if isinstance(exc, CardDeclined) else "refused"
            CHARGES.labels(charge, outcome).inc()
        raise payment_failure(exc) from exc
    if charge is not None:
        CHARGES.labels(charge, "succeeded").inc()
