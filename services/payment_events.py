"""Provider events into the engine: store each event id once (the inbox), mirror invoices,
then signal the customer's workflow. Used by the Stripe webhook, by the simulator's test
clock and checkout, and by the demo seeder, so all feed the engine the same way."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from temporalio.service import RPCError, RPCStatusCode

from adapters.payments.base import PaymentError
from adapters.payments.stripe_objects import parse_event
from db.invoices import upsert_invoice
from db.ledger import append_ledger
from db.models import Customer, Invoice, WebhookEvent
from db.writes import insert_ignoring_conflict
from domain.erasure import is_erased
from domain.payments import InvoiceInfo, PaymentEvent
from services.context import EngineContext
from services.customer_workflows import customer_handle
from services.errors import (
    InvalidPaymentEvent,
    PaymentProviderCallFailed,
    WorkflowServiceUnavailable,
)
from workflows.customer import CustomerWorkflow

logger = logging.getLogger("lifecycle.webhooks")

# Events the customer workflow acts on; others are stored and acknowledged only. The
# README's Stripe section lists them for the webhook endpoint.
HANDLED_TYPES = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "subscription_schedule.created",
        "subscription_schedule.updated",
        "subscription_schedule.released",
        "subscription_schedule.canceled",
        "subscription_schedule.completed",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.payment_action_required",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.automatically_updated",
        "customer.updated",
    }
)
# Recorded in the ledger by the API (money moved back), not acted on by the workflow.
RECORDED_TYPES = frozenset({"charge.refunded", "charge.dispute.created"})


@dataclass(frozen=True)
class IngestResult:
    event_id: str
    duplicate: bool
    status: str


async def _customer_for(
    engine: EngineContext, event: PaymentEvent, invoice_id: str | None
) -> Customer | None:
    async with engine.sessions() as session:
        if invoice_id is not None and event.provider_customer_id is None:
            # A dispute names a payment, not a customer: the invoice it paid does.
            owner = await session.scalar(
                select(Invoice.customer_id).where(Invoice.id == invoice_id)
            )
            if owner is not None:
                return await session.get(Customer, owner)
        if event.engine_customer_id:
            found = await session.get(Customer, event.engine_customer_id)
            if found is not None:
                return found
        if event.provider_customer_id:
            by_provider: Customer | None = await session.scalar(
                select(Customer).where(Customer.provider_customer_id == event.provider_customer_id)
            )
            return by_provider
    return None


async def ingest_payment_event(
    engine: EngineContext, payload: dict[str, Any], *, provider: str
) -> IngestResult:
    """Take the event in once. Raises ``InvalidPaymentEvent`` for a payload that is not an
    event, and, leaving it to be delivered again, ``PaymentProviderCallFailed`` or
    ``WorkflowServiceUnavailable`` when the provider or the workflow service is away."""
    try:
        event = parse_event(payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidPaymentEvent(str(exc)) from None
    now = datetime.now(UTC)
    paid_invoice = await _paid_invoice(engine, event)
    customer = await _customer_for(engine, event, paid_invoice)
    customer_id = customer.id if customer is not None else None
    erased = customer is not None and is_erased(customer.id, customer.external_id)
    if erased:
        # Events about an erased customer (e.g. the provider's customer.deleted) must not
        # bring personal data back: keep that they happened, not what they said.
        payload = {"id": event.id, "type": event.type, "redacted": True}
    async with engine.sessions.begin() as session:
        is_new = await insert_ignoring_conflict(
            session,
            WebhookEvent,
            {
                "id": event.id,
                "provider": provider,
                "type": event.type,
                "customer_id": customer_id,
                "provider_customer_id": event.provider_customer_id,
                "created": event.created,
                "payload": payload,
                "status": "received",
                "received_at": now,
            },
            on=["id"],
        )
        stored = await session.get(WebhookEvent, event.id)
        assert stored is not None
        if not is_new and stored.status != "received":
            # A redelivery of something already handled: acknowledge at once.
            return IngestResult(event.id, duplicate=True, status=stored.status)
        if is_new:
            await append_ledger(session, _received(event, customer_id, provider, now, paid_invoice))
    if customer_id is not None and event.invoice_id is not None and not erased:
        await _mirror_invoice(engine, customer_id, event.invoice_id, now)
    if customer_id is None or erased or event.type not in HANDLED_TYPES:
        reason = (
            "no such customer"
            if customer_id is None
            else "the customer was erased"
            if erased
            else "event type not handled"
        )
        await _finish(engine, event.id, "ignored", reason)
        return IngestResult(event.id, duplicate=not is_new, status="ignored")
    # A notice with ids only: the workflow reads the objects as they are when it applies it.
    notice = dataclasses.replace(event, subscription=None, invoice=None, payment_method=None)
    try:
        await customer_handle(engine.temporal, customer_id).signal(
            CustomerWorkflow.payment_event, notice
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            await _finish(engine, event.id, "ignored", "the customer's lifecycle has ended")
            return IngestResult(event.id, duplicate=not is_new, status="ignored")
        # Leave it "received": the provider retries, and the retry signals again.
        logger.warning("could not signal customer %s for %s: %s", customer_id, event.id, exc)
        raise WorkflowServiceUnavailable(str(exc)) from None
    await _finish(engine, event.id, "delivered")
    return IngestResult(event.id, duplicate=not is_new, status="delivered")


async def _provider_call(operation: str, call: Any) -> Any:
    try:
        return await call
    except PaymentError as exc:
        # Not acknowledged: the provider delivers the event again later.
        logger.warning("webhook: could not %s: %s", operation, exc)
        raise PaymentProviderCallFailed(operation) from None


async def _paid_invoice(engine: EngineContext, event: PaymentEvent) -> str | None:
    """The invoice a refunded or disputed payment paid: a Charge no longer names it."""
    intent = event.extra.get("payment_intent")
    if event.type not in RECORDED_TYPES or not intent:
        return None
    found: str | None = await _provider_call(
        "find the invoice of a payment", engine.payments.invoice_for_payment_intent(intent)
    )
    return found


async def _mirror_invoice(
    engine: EngineContext, customer_id: str, invoice_id: str, now: datetime
) -> None:
    """Mirror the invoice as the provider has it now: the event's copy may be older than
    one already applied (Stripe does not order deliveries)."""
    invoice: InvoiceInfo = await _provider_call(
        "read the invoice", engine.payments.get_invoice(invoice_id)
    )
    async with engine.sessions.begin() as session:
        await upsert_invoice(session, customer_id, invoice, now=now)


def _received(
    event: PaymentEvent,
    customer_id: str | None,
    provider: str,
    now: datetime,
    paid_invoice: str | None,
) -> dict[str, Any]:
    """The audit row of a received webhook; refunds and disputes carry their amounts."""
    data: dict[str, Any] = {"event_id": event.id, "type": event.type, "provider": provider}
    kind = "webhook_received"
    extra = event.extra
    if event.type == "charge.refunded":
        kind = "charge_refunded"
        data.update(
            charge_id=extra.get("charge"),
            invoice_id=paid_invoice,
            amount_refunded_cents=int(extra.get("amount_refunded_cents") or 0),
            currency=extra.get("currency"),
        )
    elif event.type == "charge.dispute.created":
        kind = "payment_disputed"
        data.update(
            charge_id=extra.get("charge"),
            invoice_id=paid_invoice,
            amount_cents=int(extra.get("amount_cents") or 0),
            currency=extra.get("currency"),
            reason=extra.get("reason"),
        )
    return {
        "event_key": f"webhook:{event.id}",
        "customer_id": customer_id,
        "kind": kind,
        "actor": provider,
        "from_status": None,
        "to_status": None,
        "plan": None,
        "interval": None,
        "mrr_delta_cents": 0,
        "data": data,
        "occurred_at": event.created,
        "recorded_at": now,
    }


async def _finish(
    engine: EngineContext, event_id: str, status: str, error: str | None = None
) -> None:
    async with engine.sessions.begin() as session:
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .values(status=status, error=error, delivered_at=datetime.now(UTC))
        )
