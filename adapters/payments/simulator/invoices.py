"""Invoices and their payments: paying, writing off and voiding, one-off charges, and what
happens to a payment afterwards (refunds, disputes)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import CardDeclined, PaymentMethodRequired, PaymentRequestRejected
from adapters.payments.simulator import render, render_payments, taxes
from adapters.payments.simulator.core import Json, Outcome, missing, new_id, rejected_state
from adapters.payments.simulator.invoice_document import legal_text
from adapters.payments.simulator.lines import LinesMixin, require_quantity
from adapters.payments.simulator.models import (
    SimCharge,
    SimCustomer,
    SimInvoice,
    SimPaymentIntent,
    SimPaymentMethod,
)
from adapters.payments.simulator.payments import PaymentsMixin
from adapters.payments.simulator.tax_ids import TaxIdsMixin
from adapters.payments.stripe_objects import parse_invoice
from domain.payments import InvoiceInfo

AUTHENTICATION_REQUIRED = "authentication_required"


class InvoicesMixin(TaxIdsMixin, LinesMixin, PaymentsMixin):
    async def list_invoices(
        self, provider_customer_id: str, *, limit: int = 24
    ) -> list[InvoiceInfo]:
        """Like ``invoices.list``: the payments' intents are ids (too deep to expand)."""
        async with self._sessions() as session:
            customer = await self._get_customer(session, provider_customer_id)
            rows = (
                await session.execute(
                    select(SimInvoice)
                    .where(SimInvoice.customer_id == customer.id)
                    .order_by(SimInvoice.sequence.desc())
                    .limit(limit)
                )
            ).scalars()
            return [parse_invoice(await self._render_invoice(session, inv)) for inv in rows]

    async def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        async with self._sessions() as session:
            inv = await session.get(SimInvoice, invoice_id)
            if inv is None:
                raise missing("invoice", invoice_id)
            return parse_invoice(await self._render_invoice(session, inv, expand=True))

    async def invoice_text(self, invoice_id: str) -> str:
        """The invoice's legal content as its PDF shows it (``invoice_document``)."""
        async with self._sessions() as session:
            inv = await session.get(SimInvoice, invoice_id)
            if inv is None:
                raise missing("invoice", invoice_id)
            return legal_text(inv)

    async def invoice_for_payment_intent(self, payment_intent_id: str) -> str | None:
        async with self._sessions() as session:
            pi = await session.get(SimPaymentIntent, payment_intent_id)
            return pi.invoice_id if pi is not None else None

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceInfo:
        """A card waiting for 3-D Secure declines with ``authentication_required`` and leaves
        the PaymentIntent ``requires_action`` (the hosted invoice page completes it)."""

        async def effect(session: AsyncSession) -> Outcome:
            customer, inv = await self._lock_invoice(session, invoice_id)
            if inv.status == "paid":
                # Paid meanwhile (the customer, or an earlier attempt): like the Stripe
                # adapter, answer the paid invoice and charge nothing.
                return Outcome(await self._render_invoice(session, inv, expand=True))
            if inv.status != "open":
                raise PaymentRequestRejected(
                    f"You cannot pay an invoice with status {inv.status}",
                    code="invoice_not_open",
                )
            error = await self._attempt(session, customer, inv, require_payment_method=True)
            return Outcome(await self._render_invoice(session, inv, expand=True), error=error)

        obj = await self._idempotent(
            idempotency_key, "pay_invoice", {"invoice": invoice_id}, effect
        )
        return parse_invoice(obj)

    async def _attempt(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        inv: SimInvoice,
        *,
        require_payment_method: bool,
        authenticated: bool = False,
        payment_method: SimPaymentMethod | None = None,
    ) -> CardDeclined | None:
        """One payment attempt on an open invoice, with its events."""
        now = self._now(customer)
        error = await self._collect(
            session,
            customer,
            inv,
            now,
            require_payment_method=require_payment_method,
            authenticated=authenticated,
            payment_method=payment_method,
        )
        if error is not None:
            await self._emit_invoice(session, customer, "invoice.payment_failed", inv, now)
            if error.code == AUTHENTICATION_REQUIRED:
                await self._emit_invoice(
                    session, customer, "invoice.payment_action_required", inv, now
                )
            return error
        await self._emit_invoice(session, customer, "invoice.paid", inv, now)
        await self._settle_past_due(session, customer, inv, now)
        return None

    async def charge_one_off(
        self,
        provider_customer_id: str,
        lookup_key: str,
        quantity: int,
        *,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> InvoiceInfo:
        """Like Stripe's invoice item + invoice (``billing_reason=manual``), finalized and paid
        at once. A decline leaves the failed attempt on record, voids the invoice (giving
        back any customer credit it used) and raises."""

        async def effect(session: AsyncSession) -> Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            # An invoice item is in the customer's currency (fixed by its subscription).
            p = self._price(lookup_key, self._charge_currency(customer, None))
            if p.interval is not None:
                raise PaymentRequestRejected(
                    f"Price {lookup_key} is recurring: an invoice item takes a one-time price",
                    code="parameter_invalid_string",
                )
            require_quantity(quantity)
            chosen = await session.get(SimPaymentMethod, payment_method) if payment_method else None
            if payment_method and (chosen is None or chosen.customer_id != customer.id):
                raise missing("payment method", payment_method)
            if chosen is None and not customer.default_payment_method_id:
                raise PaymentMethodRequired(f"Customer {customer.id} has no default payment method")
            now = self._now(customer)
            inv_id = new_id("in")
            line = render.invoice_line(
                line_id=new_id("il"),
                invoice_id=inv_id,
                p=p,
                amount_cents=p.amount_cents * quantity,
                description=p.product_name,
                period_start=now,
                period_end=now,
                proration=False,
                subscription_id=None,
                subscription_item_id=None,
                quantity=quantity,
                invoice_item_id=new_id("ii"),
            )
            inv = await self._new_invoice(
                session,
                customer,
                None,
                [line],
                billing_reason="manual",
                now=now,
                period=(now, now),
                invoice_id=inv_id,
            )
            error = await self._collect(
                session, customer, inv, now, require_payment_method=True, payment_method=chosen
            )
            if error is not None:
                await self._emit_invoice(session, customer, "invoice.payment_failed", inv, now)
                # Whatever credit the invoice used goes back to the customer's balance.
                customer.balance_cents += inv.starting_balance_cents - inv.ending_balance_cents
                await self._close_invoice(session, inv, "void", now)
                voided = await self._render_invoice(session, inv)
                self._emit(session, customer, "invoice.voided", voided, now)
                return Outcome(await self._render_invoice(session, inv, expand=True), error=error)
            await self._emit_invoice(session, customer, "invoice.paid", inv, now)
            return Outcome(await self._render_invoice(session, inv, expand=True))

        obj = await self._idempotent(
            idempotency_key,
            "charge_one_off",
            {
                "customer": provider_customer_id,
                "price": lookup_key,
                "quantity": quantity,
                "payment_method": payment_method,
            },
            effect,
        )
        return parse_invoice(obj)

    async def mark_invoice_uncollectible(
        self, invoice_id: str, *, idempotency_key: str
    ) -> InvoiceInfo:
        async def effect(session: AsyncSession) -> Outcome:
            customer, inv = await self._lock_invoice(session, invoice_id)
            if inv.status == "open":
                await self._close(session, customer, inv, "uncollectible")
            return Outcome(await self._render_invoice(session, inv, expand=True))

        obj = await self._idempotent(
            idempotency_key, "mark_invoice_uncollectible", {"invoice": invoice_id}, effect
        )
        return parse_invoice(obj)

    async def _close(
        self, session: AsyncSession, customer: SimCustomer, inv: SimInvoice, status: str
    ) -> None:
        """Void or write off; a past-due subscription with no open invoice left is active."""
        now = self._now(customer)
        await self._close_invoice(session, inv, status, now)
        event = "invoice.voided" if status == "void" else "invoice.marked_uncollectible"
        await self._emit_invoice(session, customer, event, inv, now)
        await self._settle_past_due(session, customer, inv, now)

    # -- test helpers ------------------------------------------------------------------------

    async def void_invoice(self, invoice_id: str) -> list[Json]:
        """Void an open (or uncollectible) invoice, as from the Dashboard."""
        async with self._sessions.begin() as session:
            customer, inv = await self._lock_invoice(session, invoice_id)
            if inv.status not in ("open", "uncollectible"):
                raise rejected_state(f"You cannot void an invoice with status {inv.status}")
            await self._close(session, customer, inv, "void")
            return list(self._emitted(session))

    async def pay_invoice_on_hosted_page(
        self, invoice_id: str, payment_method: str | None = None
    ) -> list[Json]:
        """The customer pays on the hosted invoice page: completes 3-D Secure for the
        waiting PaymentIntent, or pays with ``payment_method`` (a test payment method,
        attached to the customer as Stripe does, without becoming a default). A decline
        is in the events (``invoice.payment_failed``)."""
        async with self._sessions.begin() as session:
            customer, inv = await self._lock_invoice(session, invoice_id)
            if inv.status != "open":
                raise rejected_state(f"Invoice {invoice_id} is {inv.status}, not open")
            pm = (
                await self._attach(session, customer, payment_method, make_default=False)
                if payment_method is not None
                else None
            )
            await self._attempt(
                session,
                customer,
                inv,
                require_payment_method=True,
                authenticated=True,
                payment_method=pm,
            )
            return list(self._emitted(session))

    async def refund_invoice(
        self, invoice_id: str, *, amount_cents: int | None = None
    ) -> list[Json]:
        """Refund (all or part of) the invoice's payment: ``charge.refunded``."""
        async with self._sessions.begin() as session:
            customer, charge = await self._paid_charge(session, invoice_id)
            now = self._now(customer)
            amount = amount_cents if amount_cents is not None else charge.amount_cents
            remaining = charge.amount_cents - charge.amount_refunded_cents
            if not 0 < amount <= remaining:
                raise PaymentRequestRejected(
                    f"Refund amount {amount} exceeds what is left to refund ({remaining})",
                    code="amount_too_large",
                )
            previous = {"amount_refunded": charge.amount_refunded_cents, "refunded": False}
            charge.amount_refunded_cents += amount
            self._emit(
                session,
                customer,
                "charge.refunded",
                render_payments.charge(charge, base_url=self._base_url),
                now,
                previous,
            )
            return list(self._emitted(session))

    async def dispute_invoice(self, invoice_id: str, *, reason: str = "fraudulent") -> list[Json]:
        """The cardholder disputes the invoice's payment: ``charge.dispute.created``."""
        async with self._sessions.begin() as session:
            customer, charge = await self._paid_charge(session, invoice_id)
            now = self._now(customer)
            charge.disputed = True
            dispute = render_payments.dispute(
                charge, dispute_id=new_id("du"), reason=reason, created=now
            )
            self._emit(session, customer, "charge.dispute.created", dispute, now)
            return list(self._emitted(session))

    async def emit_upcoming_invoice(self, subscription_id: str) -> list[Json]:
        """``invoice.upcoming`` as Stripe sends it days before a renewal: a preview (id
        ``upcoming_in_...``, status draft), never stored as an invoice."""
        async with self._sessions.begin() as session:
            sub = await self._get_subscription(session, subscription_id)
            customer = await self._lock_customer(session, sub.customer_id)
            start = sub.current_period_end
            preview_id = "upcoming_" + new_id("in")
            end = start + (sub.current_period_end - sub.current_period_start)
            lines = self._period_lines(preview_id, sub, start, end)
            subtotal = sum(int(line["amount"]) for line in lines)
            taxed = taxes.apply_tax(self._tax, customer, lines, 0, sub.currency)
            total = subtotal + (taxed.added if taxed is not None else 0)
            preview = SimInvoice(
                id=preview_id,
                customer_id=customer.id,
                subscription_id=sub.id,
                number=None,
                sequence=0,
                status="draft",
                billing_reason="upcoming",
                currency=sub.currency,
                subtotal_cents=subtotal,
                discount_cents=0,
                total_cents=total,
                tax_cents=taxed.tax if taxed is not None else 0,
                tax_details=taxes.tax_details(self._tax, customer, taxed, subtotal=subtotal),
                starting_balance_cents=customer.balance_cents,
                ending_balance_cents=0,
                amount_due_cents=max(total + customer.balance_cents, 0),
                amount_paid_cents=0,
                amount_remaining_cents=max(total + customer.balance_cents, 0),
                period_start=sub.current_period_start,
                period_end=start,
                lines=lines,
                attempt_count=0,
                attempted=False,
                meta=dict(sub.meta or {}),
                created_at=self._now(customer),
            )
            obj = render.invoice(preview, base_url=self._base_url)
            self._emit(session, customer, "invoice.upcoming", obj, self._now(customer))
            return list(self._emitted(session))

    async def _paid_charge(
        self, session: AsyncSession, invoice_id: str
    ) -> tuple[SimCustomer, SimCharge]:
        customer, inv = await self._lock_invoice(session, invoice_id)
        charge = (
            await session.execute(
                select(SimCharge)
                .where(SimCharge.invoice_id == inv.id, SimCharge.status == "succeeded")
                .order_by(SimCharge.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if charge is None:
            raise rejected_state(f"Invoice {invoice_id} has no successful payment")
        return customer, charge
