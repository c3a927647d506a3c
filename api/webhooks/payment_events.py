"""The API's side of taking a provider event in (``services.payment_events``: the inbox,
the invoice mirror, the workflow signal): what the service could not do, as the problem
the sender is answered with (Stripe, or the simulator's pages and redelivery), so that it
delivers the event again."""

from __future__ import annotations

from typing import Any

from api.context import AppContext
from api.errors import Problem
from core.metrics import WEBHOOKS
from services.errors import (
    InvalidPaymentEvent,
    PaymentProviderCallFailed,
    WorkflowServiceUnavailable,
)
from services.payment_events import IngestResult, ingest_payment_event

# What ``ingest_payment_event`` raises.
_REFUSALS = (InvalidPaymentEvent, PaymentProviderCallFailed, WorkflowServiceUnavailable)


def event_problem(
    exc: InvalidPaymentEvent | PaymentProviderCallFailed | WorkflowServiceUnavailable,
) -> Problem:
    if isinstance(exc, InvalidPaymentEvent):
        return Problem(400, f"not a valid event: {exc.reason}", type="invalid-event")
    if isinstance(exc, PaymentProviderCallFailed):
        return Problem(
            503,
            f"the payment provider is unavailable ({exc.operation}); retry later",
            type="payment-provider-unavailable",
        )
    return Problem(
        503, "the workflow service is unavailable; retry later", type="temporal-unavailable"
    )


async def ingest_event(
    context: AppContext, payload: dict[str, Any], *, provider: str
) -> IngestResult:
    """Take the event in (``ingest_payment_event``); a 400 or 503 problem when it could not
    be. Counted by provider and outcome (``lifecycle_webhooks_received_total``)."""
    try:
        result = await ingest_payment_event(context.engine, payload, provider=provider)
    except _REFUSALS as exc:
        invalid = isinstance(exc, InvalidPaymentEvent)
        WEBHOOKS.labels(provider, "invalid" if invalid else "unavailable").inc()
        raise event_problem(exc) from None
    WEBHOOKS.labels(provider, "duplicate" if result.duplicate else "new").inc()
    return result
