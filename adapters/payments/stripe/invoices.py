"""Invoices: previews, the list, one invoice with its latest payment, dunning's retries and
one-off charges."""

from __future__ import annotations

from typing import TYPE_CHECKING

import stripe

from adapters.payments.base import (
    CardDeclined,
    PaymentMethodRequired,
    PaymentRequestRejected,
    ProrationBehavior,
)
from adapters.payments.stripe.client import (
    INVOICE_EXPAND,
    StripeBase,
    obj_id,
    plain,
    plan_item,
    require_quantity,
)
from adapters.payments.stripe.errors import is_missing_payment_method, options, stripe_errors
from domain.payments import InvoiceInfo, InvoicePreview, PriceRef

if TYPE_CHECKING:
    from stripe.params import InvoiceCreatePreviewParams


class InvoicesMixin(StripeBase):
    async def _preview(self, params: InvoiceCreatePreviewParams) -> InvoiceInfo:
        # A preview changes nothing: no caller key; the SDK sends a fresh one per request
        # (a fixed key would replay a stale proration for 24 hours).
        with stripe_errors("preview invoice"):
            return await self._invoice(
                plain(await self._client.v1.invoices.create_preview_async(params))
            )

    async def preview_change(
        self,
        *,
        provider_customer_id: str,
        subscription_id: str | None,
        price: PriceRef,
        proration: ProrationBehavior,
    ) -> InvoicePreview:
        resolved = await self._price(price.lookup_key)
        if subscription_id is None:
            # A new subscription: its first invoice is charged now, and renews alike.
            first = await self._preview(
                {
                    "customer": provider_customer_id,
                    "subscription_details": {"items": [{"price": resolved.id, "quantity": 1}]},
                }
            )
            ends = [line.period_end for line in first.lines if line.period_end]
            return InvoicePreview(
                amount_due_now_cents=first.amount_due_cents,
                currency=first.currency,
                lines=first.lines,
                next_invoice_amount_cents=first.amount_due_cents,
                next_invoice_at=max(ends) if ends else None,
            )
        sub = await self._retrieve(subscription_id)
        item_id = str(plan_item(sub)["id"])
        now: InvoiceInfo | None = None
        if proration == "always_invoice":
            # With always_invoice the preview is the invoice created (and charged) at once.
            now = await self._preview(
                {
                    "subscription": subscription_id,
                    "subscription_details": {
                        "items": [{"id": item_id, "price": resolved.id}],
                        "proration_behavior": "always_invoice",
                    },
                }
            )
        upcoming = await self._preview(
            {
                "subscription": subscription_id,
                "subscription_details": {
                    "items": [{"id": item_id, "price": resolved.id}],
                    "proration_behavior": "none",
                },
            }
        )
        regular = [line.period_start for line in upcoming.lines if not line.proration]
        next_at = min((s for s in regular if s), default=None) or (
            upcoming.next_payment_attempt or upcoming.period_end
        )
        return InvoicePreview(
            amount_due_now_cents=now.amount_due_cents if now else 0,
            currency=(now or upcoming).currency,
            lines=(now or upcoming).lines,
            next_invoice_amount_cents=upcoming.amount_due_cents,
            next_invoice_at=next_at,
        )

    async def list_invoices(
        self, provider_customer_id: str, *, limit: int = 24
    ) -> list[InvoiceInfo]:
        with stripe_errors("list invoices"):
            listing = await self._client.v1.invoices.list_async(
                {"customer": provider_customer_id, "limit": max(1, min(limit, 100))}
            )
        return [await self._invoice(plain(invoice)) for invoice in listing.data]

    async def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        with stripe_errors("retrieve invoice"):
            return await self._invoice(
                plain(
                    await self._client.v1.invoices.retrieve_async(
                        invoice_id, {"expand": INVOICE_EXPAND}
                    )
                )
            )

    async def invoice_for_payment_intent(self, payment_intent_id: str) -> str | None:
        # A Charge no longer names its invoice; the invoice's payments name the intent.
        with stripe_errors("list invoice payments"):
            listing = await self._client.v1.invoice_payments.list_async(
                {
                    "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                    "limit": 1,
                }
            )
        for payment in listing.data:
            return obj_id(plain(payment).get("invoice"))
        return None

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceInfo:
        try:
            with stripe_errors("pay invoice"):
                paid = await self._client.v1.invoices.pay_async(
                    invoice_id, None, options(idempotency_key)
                )
        except PaymentRequestRejected:
            # Paid meanwhile (by Stripe's own retry, or a retried activity with a new key).
            invoice = await self.get_invoice(invoice_id)
            if invoice.status != "paid":
                raise
            return invoice
        return await self._invoice(plain(paid))

    async def charge_one_off(
        self,
        provider_customer_id: str,
        lookup_key: str,
        quantity: int,
        *,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> InvoiceInfo:
        """A draft invoice (nothing pending swept in), the price as its one invoice item,
        finalized and paid now; a failed payment voids it. Each step has its own sub-key, so
        a retry replays the steps already done."""
        require_quantity(quantity)
        resolved = await self._price(lookup_key)
        if resolved.interval is not None:
            raise PaymentRequestRejected(
                f"price {lookup_key!r} is recurring: a one-off charge needs a one-time price",
                code="parameter_invalid_string",
            )
        with stripe_errors("create invoice"):
            draft = await self._client.v1.invoices.create_async(
                {
                    "customer": provider_customer_id,
                    "collection_method": "charge_automatically",
                    # Finalized and paid below, not an hour later by Stripe.
                    "auto_advance": False,
                    # Only the item below, never other pending items of the customer.
                    "pending_invoice_items_behavior": "exclude",
                },
                options(f"{idempotency_key}:invoice"),
            )
        invoice_id = str(draft.id)
        with stripe_errors("create invoice item"):
            # Attached to the draft: a pending item could be swept into a subscription
            # invoice made meanwhile (a renewal, an add-on's proration).
            await self._client.v1.invoice_items.create_async(
                {
                    "customer": provider_customer_id,
                    "invoice": invoice_id,
                    # ``pricing.price`` replaced ``price`` in 2025-03-31.basil.
                    "pricing": {"price": resolved.id},
                    "quantity": quantity,
                },
                options(f"{idempotency_key}:item"),
            )
        with stripe_errors("finalize invoice"):
            finalized = await self._invoice(
                plain(
                    await self._client.v1.invoices.finalize_invoice_async(
                        invoice_id, {"auto_advance": False}, options(f"{idempotency_key}:finalize")
                    )
                )
            )
        if finalized.status == "paid":
            # Nothing was due (the customer's credit balance covered it).
            return finalized
        failure: CardDeclined | PaymentMethodRequired | None = None
        try:
            with stripe_errors("pay invoice"):
                try:
                    paid = await self._client.v1.invoices.pay_async(
                        invoice_id,
                        {"payment_method": payment_method} if payment_method else None,
                        options(f"{idempotency_key}:pay"),
                    )
                except stripe.InvalidRequestError as err:
                    if is_missing_payment_method(err):
                        raise PaymentMethodRequired(
                            f"customer {provider_customer_id} has no default payment method"
                        ) from None
                    raise
        except (CardDeclined, PaymentMethodRequired) as err:
            failure = err
        if failure is None:
            return await self._invoice(plain(paid))
        # Leave nothing payable behind. If voiding fails the error propagates (a retry with
        # the same key replays the failed payment and voids again).
        with stripe_errors("void invoice"):
            await self._client.v1.invoices.void_invoice_async(
                invoice_id, None, options(f"{idempotency_key}:void")
            )
        raise failure

    async def mark_invoice_uncollectible(
        self, invoice_id: str, *, idempotency_key: str
    ) -> InvoiceInfo:
        current = await self.get_invoice(invoice_id)
        if current.status != "open":
            return current
        with stripe_errors("mark invoice uncollectible"):
            marked = await self._client.v1.invoices.mark_uncollectible_async(
                invoice_id, None, options(idempotency_key)
            )
        return await self._invoice(plain(marked))
