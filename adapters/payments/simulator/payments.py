"""Taking money: payment methods on file, invoices, and the PaymentIntent every invoice
payment goes through (one per invoice, keeping the last attempt's decline, where Stripe
reports it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import CardDeclined, PaymentMethodRequired, PaymentRequestRejected
from adapters.payments.simulator import render, taxes
from adapters.payments.simulator.cards import (
    AUTHENTICATION_REQUIRED,
    DELAYED,
    REQUIRES_AUTHENTICATION,
    SIM_CARDS,
)
from adapters.payments.simulator.core import (
    Json,
    SimulatorCore,
    decline_error,
    error_json,
    missing,
    new_id,
)
from adapters.payments.simulator.models import (
    SimCharge,
    SimCustomer,
    SimInvoice,
    SimPaymentIntent,
    SimPaymentMethod,
    SimSubscription,
)
from adapters.payments.simulator.prices import Coupon
from domain.money import round_half_up

_DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
}


class PaymentsMixin(SimulatorCore):
    async def _attach(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        payment_method: str,
        *,
        make_default: bool = True,
    ) -> SimPaymentMethod:
        """Attach a test payment method (cloned into ``pm_sim_...``) or one of the
        customer's by id; ``make_default`` sets it on ``invoice_settings``."""
        now = self._now(customer)
        card = SIM_CARDS.get(payment_method)
        if card is not None:
            if card.decline is not None:
                raise decline_error(card.decline)
            charge_decline = card.charge_decline
            pm = SimPaymentMethod(
                id=new_id("pm"),
                customer_id=customer.id,
                source=payment_method,
                type=card.type,
                brand=card.brand,
                last4=card.last4,
                exp_month=12,
                exp_year=now.year + 3,
                charge_error_code=charge_decline.code if charge_decline else None,
                charge_decline_code=charge_decline.decline_code if charge_decline else None,
                behavior=card.behavior,
                created_at=now,
            )
            session.add(pm)
            await session.flush()
        else:
            existing = await session.get(SimPaymentMethod, payment_method)
            if existing is None:
                raise missing("PaymentMethod", payment_method)
            if existing.customer_id != customer.id:
                raise PaymentRequestRejected(
                    f"PaymentMethod {payment_method} is not attached to customer {customer.id}",
                    code="payment_method_unexpected_state",
                )
            pm = existing
        if make_default:
            customer.default_payment_method_id = pm.id
        self._emit(session, customer, "payment_method.attached", render.payment_method(pm), now)
        return pm

    async def _payment_method_for(
        self, session: AsyncSession, customer: SimCustomer, inv: SimInvoice
    ) -> SimPaymentMethod | None:
        """The subscription's own card wins over the customer's default, as at Stripe."""
        candidates = []
        if inv.subscription_id:
            sub = await session.get(SimSubscription, inv.subscription_id)
            if sub is not None and sub.default_payment_method_id:
                candidates.append(sub.default_payment_method_id)
        if customer.default_payment_method_id:
            candidates.append(customer.default_payment_method_id)
        for pm_id in candidates:
            pm = await session.get(SimPaymentMethod, pm_id)
            if pm is not None and pm.customer_id == customer.id:
                return pm
        return None

    # -- taking money --------------------------------------------------------------------------

    async def _intent(
        self, session: AsyncSession, customer: SimCustomer, inv: SimInvoice, now: datetime
    ) -> SimPaymentIntent:
        """The invoice's PaymentIntent: one per invoice, every attempt goes through it."""
        for pi in await self._intents(session, inv.id):
            if pi.status != "canceled":
                return pi
        pi = SimPaymentIntent(
            id=new_id("pi"),
            customer_id=customer.id,
            invoice_id=inv.id,
            invoice_payment_id=new_id("inpay"),
            amount_cents=inv.amount_remaining_cents,
            amount_received_cents=0,
            currency=inv.currency,
            status="requires_payment_method",
            created_at=now,
        )
        session.add(pi)
        return pi

    async def _collect(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        inv: SimInvoice,
        now: datetime,
        *,
        require_payment_method: bool,
        authenticated: bool = False,
        allow_delayed: bool = False,
        payment_method: SimPaymentMethod | None = None,
    ) -> CardDeclined | None:
        """Attempt payment of an open invoice through its PaymentIntent. A decline (or a
        card waiting for 3-D Secure: ``requires_action``, code ``authentication_required``)
        is recorded on the intent and returned, not raised. ``authenticated``: the customer
        is present and completes 3-D Secure (Checkout, the hosted invoice page).
        ``allow_delayed``: a debit stays processing (the invoice open) until it settles;
        otherwise it settles at once. ``payment_method``: this one rather than the
        subscription's or the customer's default."""
        if inv.amount_remaining_cents <= 0:
            self._mark_paid(inv, now)
            return None
        pm = payment_method or await self._payment_method_for(session, customer, inv)
        if pm is None:
            if require_payment_method:
                raise PaymentMethodRequired(f"Customer {customer.id} has no default payment method")
            inv.attempt_count += 1
            inv.attempted = True
            pi = await self._intent(session, customer, inv, now)
            pi.status = "requires_payment_method"
            pi.last_payment_error = {
                "type": "invalid_request_error",
                "code": "payment_method_required",
                "message": "The customer has no default payment method.",
            }
            return CardDeclined(
                "The customer has no default payment method.", code="payment_method_required"
            )
        inv.attempt_count += 1
        inv.attempted = True
        pi = await self._intent(session, customer, inv, now)
        pi.payment_method_id = pm.id
        pi.amount_cents = inv.amount_remaining_cents
        if pm.behavior == REQUIRES_AUTHENTICATION and not authenticated:
            # No charge yet: the intent waits for the customer to authenticate.
            needs_action = decline_error(AUTHENTICATION_REQUIRED)
            pi.status = "requires_action"
            pi.last_payment_error = error_json(needs_action)
            return needs_action
        declined = (
            CardDeclined(
                _DECLINE_MESSAGES.get(pm.charge_decline_code or "", "Your card was declined."),
                code=pm.charge_error_code,
                decline_code=pm.charge_decline_code,
            )
            if pm.charge_error_code
            else None
        )
        delayed = pm.behavior == DELAYED and allow_delayed
        charge = SimCharge(
            id=new_id("ch"),
            customer_id=customer.id,
            invoice_id=inv.id,
            payment_intent_id=pi.id,
            payment_method_id=pm.id,
            amount_cents=inv.amount_remaining_cents,
            amount_refunded_cents=0,
            disputed=False,
            currency=inv.currency,
            status="failed" if declined else "pending" if delayed else "succeeded",
            failure_code=declined.code if declined else None,
            decline_code=declined.decline_code if declined else None,
            created_at=now,
        )
        session.add(charge)
        pi.latest_charge_id = charge.id
        if declined is not None:
            pi.status = "requires_payment_method"
            pi.last_payment_error = {**error_json(declined), "charge": charge.id}
            return declined
        pi.last_payment_error = None
        if delayed:
            pi.status = "processing"
            return None
        self._intent_succeeded(pi, inv, now)
        return None

    def _intent_succeeded(self, pi: SimPaymentIntent, inv: SimInvoice, now: datetime) -> None:
        pi.status = "succeeded"
        pi.amount_received_cents = pi.amount_cents
        pi.succeeded_at = now
        inv.amount_paid_cents += inv.amount_remaining_cents
        self._mark_paid(inv, now)

    @staticmethod
    def _mark_paid(inv: SimInvoice, now: datetime) -> None:
        inv.status = "paid"
        inv.amount_remaining_cents = 0
        inv.paid_at = now
        inv.next_payment_attempt = None

    async def _close_invoice(
        self, session: AsyncSession, inv: SimInvoice, status: str, now: datetime
    ) -> None:
        """Void or write off an open invoice; its open PaymentIntent is canceled."""
        inv.status = status
        inv.next_payment_attempt = None
        if status == "void":
            inv.amount_remaining_cents = 0
            inv.voided_at = now
        else:
            inv.marked_uncollectible_at = now
        for pi in await self._intents(session, inv.id):
            if pi.status not in ("succeeded", "canceled"):
                pi.status = "canceled"
                pi.canceled_at = now

    async def _new_invoice(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        sub: SimSubscription | None,
        lines: list[Json],
        *,
        billing_reason: str,
        now: datetime,
        period: tuple[datetime, datetime],
        invoice_id: str,
        coupon: Coupon | None = None,
        apply_balance: bool = True,
    ) -> SimInvoice:
        """A finalized invoice: open with an amount due, or paid at once when nothing is due.
        The customer's credit balance pays for what it can; a negative total becomes credit.
        Tax is computed on the discounted lines, and the number issued, here (``taxes``)."""
        subtotal = sum(int(line["amount"]) for line in lines)
        discount = 0
        if coupon is not None:
            discountable = sum(int(line["amount"]) for line in lines if line.get("discountable"))
            discount = min(
                max(round_half_up(discountable * coupon.percent_off, 100), 0), discountable
            )
        currency = (
            (sub.currency if sub is not None else None)
            or (str(lines[0]["currency"]) if lines else None)
            or customer.currency
            or self._catalog.currency
        )
        taxed = taxes.apply_tax(self._tax, customer, lines, discount, currency)
        total = subtotal - discount + (taxed.added if taxed is not None else 0)
        starting = customer.balance_cents if apply_balance else 0
        applied = total + starting
        amount_due = max(applied, 0)
        ending = min(applied, 0)
        if apply_balance:
            customer.balance_cents = ending
        customer.invoice_sequence += 1
        prefix = self._tax.seller.invoice_prefix if self._tax.seller else None
        number = (
            await taxes.next_number(session, prefix)
            if prefix
            else f"SIM-{customer.invoice_sequence:04d}"
        )
        inv = SimInvoice(
            id=invoice_id,
            customer_id=customer.id,
            subscription_id=sub.id if sub else None,
            number=number,
            sequence=customer.invoice_sequence,
            status="open",
            billing_reason=billing_reason,
            currency=currency,
            subtotal_cents=subtotal,
            discount_cents=discount,
            total_cents=total,
            starting_balance_cents=starting,
            ending_balance_cents=ending,
            amount_due_cents=amount_due,
            amount_paid_cents=0,
            amount_remaining_cents=amount_due,
            coupon=coupon.id if coupon else None,
            period_start=period[0],
            period_end=period[1],
            lines=lines,
            attempt_count=0,
            attempted=False,
            meta=dict(sub.meta or {}) if sub else {},
            created_at=now,
            finalized_at=now,
            tax_cents=taxed.tax if taxed is not None else 0,
            tax_details=taxes.tax_details(self._tax, customer, taxed, subtotal=subtotal),
        )
        if amount_due == 0:
            self._mark_paid(inv, now)
        session.add(inv)
        return inv

    async def _settle_past_due(
        self, session: AsyncSession, customer: SimCustomer, inv: SimInvoice, now: datetime
    ) -> None:
        """A past-due subscription is active again once no invoice of it is left open."""
        if not inv.subscription_id:
            return
        sub = await session.get(SimSubscription, inv.subscription_id)
        if (
            sub is not None
            and sub.status == "past_due"
            and not await self._has_open_invoices(session, sub.id)
        ):
            sub.status = "active"
            sub.updated_at = now
            await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)

    async def _has_open_invoices(self, session: AsyncSession, subscription_id: str) -> bool:
        await session.flush()
        found = await session.execute(
            select(SimInvoice.id)
            .where(SimInvoice.subscription_id == subscription_id, SimInvoice.status == "open")
            .limit(1)
        )
        return found.first() is not None
