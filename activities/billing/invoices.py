"""Invoices at the provider: an add-on purchase (a one-off pack's invoice or a new
subscription item's proration), fetching one, paying (a dunning retry) or writing one off;
each upserted into the read model."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.base import BillingBase
from activities.billing.failures import final_failures
from activities.billing.inputs import (
    FetchInvoiceInput,
    InvoiceCommandInput,
    PurchaseAddonInput,
    PurchaseAddonResult,
)
from db.invoices import upsert_invoice
from db.models import CustomerAddon
from db.writes import insert_ignoring_conflict
from domain.payments import InvoiceInfo


class InvoiceActivities(BillingBase):
    @activity.defn(name="purchase_addon")
    async def purchase_addon(self, request: PurchaseAddonInput) -> PurchaseAddonResult:
        """Charge for the add-on, then record it in the read model (keyed by the purchase,
        so a retry after a crash charges and records once)."""
        subscription = None
        invoice: InvoiceInfo | None
        with final_failures(charge="purchase_addon"):
            if request.kind == "one_off":
                invoice = await self._gateway.charge_one_off(
                    request.provider_customer_id,
                    request.lookup_key,
                    request.quantity,
                    idempotency_key=request.idempotency_key,
                    payment_method=request.payment_method,
                )
            else:
                subscription = await self._gateway.add_subscription_item(
                    request.subscription_id,
                    request.lookup_key,
                    request.quantity,
                    idempotency_key=request.idempotency_key,
                )
                invoice = subscription.latest_invoice
        now = self._clock()
        item = (
            next(
                (i for i in subscription.items if i.price_lookup_key == request.lookup_key),
                None,
            )
            if subscription
            else None
        )
        async with self._sessions.begin() as session:
            if invoice is not None:
                await upsert_invoice(session, request.customer_id, invoice, now=now)
            await insert_ignoring_conflict(
                session,
                CustomerAddon,
                {
                    "purchase_key": request.idempotency_key,
                    "customer_id": request.customer_id,
                    "addon": request.addon,
                    "kind": request.kind,
                    "quantity": request.quantity,
                    "period_start": request.period_start if request.kind == "one_off" else None,
                    "period_end": request.period_end if request.kind == "one_off" else None,
                    "provider_item_id": item.id if item else None,
                    "invoice_id": invoice.id if invoice else None,
                    "active": True,
                    "created_at": now,
                },
                on=["purchase_key"],
            )
        return PurchaseAddonResult(
            amount_paid_cents=invoice.amount_paid_cents if invoice else 0,
            invoice_id=invoice.id if invoice else None,
            subscription=subscription,
        )

    @activity.defn(name="fetch_invoice")
    async def fetch_invoice(self, request: FetchInvoiceInput) -> InvoiceInfo:
        """The invoice as the provider has it now (a webhook's payload may be stale)."""
        with final_failures():
            invoice = await self._gateway.get_invoice(request.invoice_id)
        async with self._sessions.begin() as session:
            await upsert_invoice(session, request.customer_id, invoice, now=self._clock())
        return invoice

    @activity.defn(name="invoice_command")
    async def invoice_command(self, request: InvoiceCommandInput) -> InvoiceInfo:
        with final_failures(charge="pay_invoice" if request.command == "pay" else None):
            if request.command == "pay":
                invoice = await self._gateway.pay_invoice(
                    request.invoice_id, idempotency_key=request.idempotency_key
                )
            elif request.command == "mark_uncollectible":
                invoice = await self._gateway.mark_invoice_uncollectible(
                    request.invoice_id, idempotency_key=request.idempotency_key
                )
            else:
                raise ApplicationError(
                    f"unknown invoice command {request.command!r}", non_retryable=True
                )
        async with self._sessions.begin() as session:
            await upsert_invoice(session, request.customer_id, invoice, now=self._clock())
        return invoice
