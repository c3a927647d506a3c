"""Stripe's hosted pages: Checkout (subscription mode) and the Customer Portal.

What a customer does on them is a method here (the simulator's pages call them); each
returns the events it emitted, for the caller to deliver as webhooks. The portal follows
the configuration the engine creates at Stripe: upgrades now with proration, downgrades at
the period end (a subscription schedule), cancellation at the period end (``cancel_at``,
as flexible billing mode does), and a new card becomes the default everywhere.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.simulator import render, render_subscriptions
from adapters.payments.simulator.cards import LEGACY_CHECKOUT_METHODS
from adapters.payments.simulator.clock import ClockMixin
from adapters.payments.simulator.core import (
    CHECKOUT_SESSION_LIFETIME,
    LIVE_STATUSES,
    Json,
    Outcome,
    missing,
    new_id,
    rejected_state,
)
from adapters.payments.simulator.customers import CustomersMixin
from adapters.payments.simulator.models import (
    SimCharge,
    SimCheckoutSession,
    SimCustomer,
    SimInvoice,
    SimSubscription,
)
from adapters.payments.simulator.prices import SimPrice, resolve_coupon
from adapters.payments.simulator.render import unix
from domain.lifecycle import BillingInterval
from domain.payment_methods import checkout_methods
from domain.payments import PriceRef


def _at_period_end(new: SimPrice, old: SimPrice) -> bool:
    """The engine's portal configuration (``adapters/payments/stripe/portal.py``) schedules
    a change for the period end on Stripe's conditions ``decreasing_item_amount`` and
    ``shortening_interval``; every other change is charged now, prorated."""
    shortening = old.interval is BillingInterval.YEAR and new.interval is BillingInterval.MONTH
    return new.amount_cents < old.amount_cents or shortening


class HostedPagesMixin(ClockMixin, CustomersMixin):
    async def create_checkout_session(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        coupon: str | None = None,
        currency: str | None = None,
        country: str | None = None,
    ) -> str:
        """``country``: where the customer is, as Stripe's dynamic payment methods learn it
        on the page; with the currency it fixes the methods offered
        (``domain.payment_methods``)."""

        async def effect(session: AsyncSession) -> Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            charged = self._charge_currency(customer, currency)
            sim_price = self._price(price.lookup_key, charged)
            if coupon:
                resolve_coupon(coupon, self._catalog)
            now = self._now(customer)
            session_id = new_id("cs")
            cs = SimCheckoutSession(
                id=session_id,
                mode="subscription",
                customer_id=customer.id,
                engine_customer_id=customer_id,
                price_lookup_key=price.lookup_key,
                coupon=coupon,
                currency=sim_price.currency,
                payment_method_types=list(checkout_methods(sim_price.currency, country)),
                success_url=success_url,
                cancel_url=cancel_url,
                url=f"{self._base_url}/v1/simulator/checkout/{session_id}",
                status="open",
                payment_status="unpaid",
                completion_event_ids=[],
                created_at=now,
                expires_at=now + CHECKOUT_SESSION_LIFETIME,
            )
            session.add(cs)
            return Outcome(
                render_subscriptions.checkout_session(cs, amount_total=sim_price.amount_cents)
            )

        obj = await self._idempotent(
            idempotency_key,
            "create_checkout_session",
            {
                "customer": provider_customer_id,
                "customer_id": customer_id,
                "price": price.lookup_key,
                "coupon": coupon,
                "success_url": success_url,
                "cancel_url": cancel_url,
                # Only when given: keys stored before currencies existed still match.
                **({"currency": currency} if currency else {}),
                **({"country": country} if country else {}),
            },
            effect,
        )
        return str(obj["url"])

    async def create_portal_session(self, *, provider_customer_id: str, return_url: str) -> str:
        async with self._sessions.begin() as session:
            customer = await self._lock_customer(session, provider_customer_id)
            now = self._now(customer)
            session_id = new_id("bps")
            url = f"{self._base_url}/v1/simulator/portal/{session_id}"
            session.add(
                SimCheckoutSession(
                    id=session_id,
                    mode="portal",
                    customer_id=customer.id,
                    engine_customer_id=customer.engine_customer_id,
                    return_url=return_url,
                    url=url,
                    status="open",
                    payment_status="no_payment_required",
                    completion_event_ids=[],
                    created_at=now,
                    expires_at=now + CHECKOUT_SESSION_LIFETIME,
                )
            )
        return url

    async def get_checkout_session(self, session_id: str) -> dict[str, Any]:
        """The Checkout session (or portal session) as Stripe renders it, for the
        simulator's pages, which also read ``price_lookup_key`` (added here)."""
        async with self._sessions() as session:
            cs = await session.get(SimCheckoutSession, session_id)
            if cs is None:
                raise missing("checkout session", session_id)
            if cs.mode == "portal":
                return {**render_subscriptions.portal_session(cs), "price_lookup_key": None}
            amount = (
                self._price(cs.price_lookup_key, cs.currency).amount_cents
                if cs.price_lookup_key
                else None
            )
            return {
                **render_subscriptions.checkout_session(cs, amount_total=amount),
                "price_lookup_key": cs.price_lookup_key,
            }

    async def complete_checkout(self, session_id: str, payment_method: str) -> list[Json]:
        """Pay a Checkout session with a test payment method, as the customer would on the
        hosted page. The card is saved on the subscription (``default_payment_method``),
        not as the customer's default; 3-D Secure completes on the page. Returns
        ``checkout.session.completed`` and ``invoice.paid``, or for a delayed method
        (``pm_sepaDebit``, ``pm_boleto``) the session completed ``unpaid`` with the
        subscription ``incomplete`` until ``settle_async_payment``. A decline raises
        ``CardDeclined`` and a method the session does not offer
        ``PaymentRequestRejected``; the session stays open. A completed session returns its
        events again."""
        async with self._sessions.begin() as session:
            found = await session.get(SimCheckoutSession, session_id)
            if found is None or found.mode != "subscription":
                raise missing("checkout session", session_id)
            customer = await self._lock_customer(session, found.customer_id)
            cs = await self._fresh(session, SimCheckoutSession, session_id)
            if cs.status == "complete":
                return await self._events_by_id(session, list(cs.completion_event_ids))
            now = self._now(customer)
            if cs.status != "open" or now >= cs.expires_at:
                raise rejected_state(f"Checkout session {session_id} has expired")
            assert cs.price_lookup_key is not None
            pm = await self._attach(session, customer, payment_method, make_default=False)
            offered = cs.payment_method_types or LEGACY_CHECKOUT_METHODS
            if pm.type not in offered:
                # Nothing is kept: the attachment goes with the transaction.
                raise PaymentRequestRejected(
                    f"Checkout session {session_id} offers {', '.join(offered)}, not {pm.type}",
                    code="payment_method_unavailable",
                )
            sub, inv = await self._subscribe(
                session,
                customer,
                cs.engine_customer_id or customer.engine_customer_id,
                self._price(cs.price_lookup_key, self._charge_currency(customer, cs.currency)),
                resolve_coupon(cs.coupon, self._catalog) if cs.coupon else None,
                payment_method_id=pm.id,
                in_checkout=True,
            )
            cs.status = "complete"
            cs.subscription_id = sub.id
            cs.invoice_id = inv.id
            cs.completed_at = now
            cs.payment_status = "paid" if inv.status == "paid" else "unpaid"
            events = [self._emit_checkout(session, customer, cs, "checkout.session.completed")]
            if inv.status == "paid":
                events.append(await self._emit_invoice(session, customer, "invoice.paid", inv, now))
            cs.completion_event_ids = [e["id"] for e in events]
            return events

    async def settle_async_payment(self, session_id: str, *, succeeded: bool) -> list[Json]:
        """The delayed payment of a Checkout session settles: paid (the subscription
        active, ``checkout.session.async_payment_succeeded``) or failed (the invoice
        voided, the subscription ``incomplete_expired``,
        ``checkout.session.async_payment_failed``)."""
        async with self._sessions.begin() as session:
            found = await session.get(SimCheckoutSession, session_id)
            if found is None or found.mode != "subscription":
                raise missing("checkout session", session_id)
            customer = await self._lock_customer(session, found.customer_id)
            cs = await self._fresh(session, SimCheckoutSession, session_id)
            if cs.status != "complete" or cs.payment_status != "unpaid" or not cs.invoice_id:
                raise rejected_state(f"Checkout session {session_id} has no payment to settle")
            inv = await self._fresh(session, SimInvoice, cs.invoice_id)
            sub = await self._fresh(session, SimSubscription, str(cs.subscription_id))
            pi = next(p for p in await self._intents(session, inv.id) if p.status == "processing")
            charge = await session.get(SimCharge, pi.latest_charge_id)
            assert charge is not None
            now = self._now(customer)
            if succeeded:
                charge.status = "succeeded"
                self._intent_succeeded(pi, inv, now)
                sub.status = "active"
                cs.payment_status = "paid"
                await self._emit_invoice(session, customer, "invoice.paid", inv, now)
                self._emit(
                    session,
                    customer,
                    "customer.subscription.updated",
                    await self._render_sub(session, sub),
                    now,
                    {"status": "incomplete"},
                )
                self._emit_checkout(
                    session, customer, cs, "checkout.session.async_payment_succeeded"
                )
            else:
                charge.status = "failed"
                charge.failure_code = "insufficient_funds"
                pi.status = "requires_payment_method"
                pi.last_payment_error = {
                    "type": "card_error",
                    "code": "insufficient_funds",
                    "decline_code": "insufficient_funds",
                    "message": "The account has insufficient funds to cover this payment.",
                    "charge": charge.id,
                }
                await self._emit_invoice(session, customer, "invoice.payment_failed", inv, now)
                await self._close_invoice(session, inv, "void", now)
                await self._emit_invoice(session, customer, "invoice.voided", inv, now)
                sub.status = "incomplete_expired"
                sub.ended_at = now
                sub.updated_at = now
                await self._emit_sub(session, customer, "customer.subscription.deleted", sub, now)
                self._emit_checkout(session, customer, cs, "checkout.session.async_payment_failed")
            return list(self._emitted(session))

    def _emit_checkout(
        self, session: AsyncSession, customer: SimCustomer, cs: SimCheckoutSession, type_: str
    ) -> Json:
        amount = (
            self._price(cs.price_lookup_key, cs.currency).amount_cents
            if cs.price_lookup_key
            else None
        )
        obj = render_subscriptions.checkout_session(cs, amount_total=amount)
        return self._emit(session, customer, type_, obj, self._now(customer))

    # -- the Customer Portal ------------------------------------------------------------------

    async def _portal(
        self, session: AsyncSession, session_id: str
    ) -> tuple[SimCustomer, SimSubscription | None]:
        found = await session.get(SimCheckoutSession, session_id)
        if found is None or found.mode != "portal":
            raise missing("portal session", session_id)
        customer = await self._lock_customer(session, found.customer_id)
        if self._now(customer) >= found.expires_at:
            raise rejected_state(f"Portal session {session_id} has expired")
        sub = (
            await session.execute(
                select(SimSubscription)
                .where(
                    SimSubscription.customer_id == customer.id,
                    SimSubscription.status.in_(LIVE_STATUSES),
                )
                .order_by(SimSubscription.created_at.desc())
                .limit(1)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        return customer, sub

    async def _portal_subscription(
        self, session: AsyncSession, session_id: str
    ) -> tuple[SimCustomer, SimSubscription]:
        customer, sub = await self._portal(session, session_id)
        if sub is None:
            raise rejected_state("The customer has no subscription to manage")
        return customer, sub

    async def portal_change_plan(self, session_id: str, price: PriceRef) -> list[Json]:
        """As the engine's portal configuration has it: a lower amount or a shorter interval
        is scheduled for the period end, anything else is charged now, prorated. A declined
        change raises and changes nothing."""
        async with self._sessions.begin() as session:
            customer, sub = await self._portal_subscription(session, session_id)
            new = self._price(price.lookup_key, sub.currency)
            old = self._price(sub.price_lookup_key, sub.currency)
            if _at_period_end(new, old):
                await self._schedule_change(session, customer, sub, new)
            else:
                await self._change_price_now(session, customer, sub, new, "always_invoice")
            return list(self._emitted(session))

    async def portal_cancel(self, session_id: str) -> list[Json]:
        """Cancel at the period end the way flexible billing mode does: ``cancel_at`` set,
        ``cancel_at_period_end`` left false."""
        async with self._sessions.begin() as session:
            customer, sub = await self._portal_subscription(session, session_id)
            now = self._now(customer)
            if sub.cancel_at is None and not sub.cancel_at_period_end:
                sub.cancel_at = sub.current_period_end
                sub.canceled_at = now
                sub.cancellation_reason = "cancellation_requested"
                sub.updated_at = now
                self._emit(
                    session,
                    customer,
                    "customer.subscription.updated",
                    await self._render_sub(session, sub),
                    now,
                    {"cancel_at": None, "canceled_at": None},
                )
            return list(self._emitted(session))

    async def portal_reactivate(self, session_id: str) -> list[Json]:
        """ "Renew subscription" in the portal: the scheduled cancellation is undone."""
        async with self._sessions.begin() as session:
            customer, sub = await self._portal_subscription(session, session_id)
            now = self._now(customer)
            if sub.cancel_at is not None or sub.cancel_at_period_end:
                previous = {"cancel_at": unix(sub.cancel_at or sub.current_period_end)}
                sub.cancel_at = None
                sub.cancel_at_period_end = False
                sub.canceled_at = None
                sub.cancellation_reason = None
                sub.updated_at = now
                self._emit(
                    session,
                    customer,
                    "customer.subscription.updated",
                    await self._render_sub(session, sub),
                    now,
                    previous,
                )
            return list(self._emitted(session))

    async def portal_update_card(self, session_id: str, payment_method: str) -> list[Json]:
        """A new card: attached, the customer's default, and the subscription's own where
        it had one (``payment_method.attached``, ``customer.updated``,
        ``customer.subscription.updated``). A declining card raises ``CardDeclined``."""
        async with self._sessions.begin() as session:
            customer, sub = await self._portal(session, session_id)
            previous = customer.default_payment_method_id
            pm = await self._attach(session, customer, payment_method)
            now = self._now(customer)
            if previous != pm.id:
                self._emit(
                    session,
                    customer,
                    "customer.updated",
                    render.customer(customer),
                    now,
                    {"invoice_settings": {"default_payment_method": previous}},
                )
            if sub is not None and sub.default_payment_method_id not in (None, pm.id):
                await self._set_subscription_card(session, customer, sub, pm.id)
            return list(self._emitted(session))
