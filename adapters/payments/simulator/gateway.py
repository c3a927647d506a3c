"""``SimulatedGateway``: an in-process Stripe with test cards and a per-customer test clock.

State lives in the app database (``db/simulator_models.py``) so the API and the worker see
the same Stripe. Behaviour follows Stripe where the engine can tell the difference:

- Test payment methods (``cards.SIM_CARDS``): attaching clones one into ``pm_sim_...``
  that remembers its behaviour; the ``pm_card_chargeDeclined*`` cards are refused on attach
  and on every charge, ``pm_card_chargeCustomerFail`` attaches and then fails every charge.
- Subscriptions charge their first period at once; a decline leaves nothing behind. Price
  changes prorate by the second (``domain.proration``); an interval change resets the
  billing cycle. Invoices have Stripe's amounts, balance handling (a negative total becomes
  customer credit applied to later invoices) and numbers ``SIM-0001`` per customer.
- Coupons need no set-up: the number an id ends with is its percent off, once
  (``prices.resolve_coupon``).
- Idempotency: the outcome of every mutating call is stored under its key in the same
  transaction as its effects, so a repeated key (even a concurrent one, which waits on the
  key's row) returns the stored result and charges nothing twice. Declines are stored and
  replayed like Stripe does; validation errors (unknown ids, no payment method) are not, so
  a corrected retry with the same key goes through. A key reused for a different request is
  refused (``idempotency_error``).
- Time: every "now" is the customer's test clock, the real clock plus the customer's
  offset, in whole seconds. ``advance_to_period_end`` moves it and renews like Stripe does;
  nothing renews by itself unless ``renew_due_subscriptions`` is called.
- Every effect emits Stripe-shaped events into ``sim_events``; the test-clock and checkout
  helpers return theirs so the caller can deliver them to the webhook endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import (
    ADDON_PRICE_PREFIX,
    Address,
    CardDeclined,
    InvoiceInfo,
    InvoicePreview,
    PaymentMethodInfo,
    PaymentMethodRequired,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
    PriceRef,
    ProrationBehavior,
    SubscriptionInfo,
)
from adapters.payments.simulator import render
from adapters.payments.simulator.cards import SIM_CARDS, Decline
from adapters.payments.simulator.prices import Coupon, SimPrice, resolve_coupon, resolve_price
from adapters.payments.stripe_objects import (
    parse_invoice,
    parse_payment_method,
    parse_subscription,
)
from db.engine import SessionFactory
from db.simulator_models import (
    SimCharge,
    SimCheckoutSession,
    SimCustomer,
    SimEvent,
    SimIdempotencyRecord,
    SimInvoice,
    SimPaymentMethod,
    SimSubscription,
)
from db.writes import insert_ignoring_conflict, rows_affected
from domain.catalog import Catalog
from domain.lifecycle import BillingInterval
from domain.proration import (
    add_interval,
    next_period_end,
    prorate_change,
    prorate_cycle_reset,
    remaining_time_description,
    round_half_up,
    unused_time_description,
)

Json = dict[str, Any]

LIVE_STATUSES = ("active", "past_due")
CHECKOUT_SESSION_LIFETIME = timedelta(hours=24)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_sim_{uuid.uuid4().hex[:24]}"


def _decline_error(decline: Decline) -> CardDeclined:
    return CardDeclined(decline.message, code=decline.code, decline_code=decline.decline_code)


def _error_json(error: CardDeclined) -> Json:
    return {
        "type": "card_error",
        "code": error.code,
        "decline_code": error.decline_code,
        "message": str(error),
    }


def _customer_ref(customer: SimCustomer) -> Json:
    """What idempotency records keep of a customer: no personal data (erasure can't reach
    stored responses)."""
    return {"id": customer.id, "object": "customer"}


def _rejected_state(message: str) -> PaymentRequestRejected:
    return PaymentRequestRejected(message, code="resource_state")


@dataclass
class _Outcome:
    """What an idempotent effect produced: the rendered object, and a decline to raise after
    committing (a failed payment attempt is itself an effect that must stay)."""

    obj: Json
    error: CardDeclined | None = None


@dataclass
class _Change:
    """The invoice a price change makes now (no lines: nothing to invoice)."""

    lines: list[Json]
    new_period: tuple[datetime, datetime] | None
    next_amount_cents: int
    next_at: datetime


class SimulatedGateway:
    name = "simulator"

    def __init__(
        self,
        sessions: SessionFactory,
        catalog: Catalog,
        *,
        base_url: str = "http://127.0.0.1:8000",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._base_url = base_url.rstrip("/")
        self._clock = clock

    # -- customers ------------------------------------------------------------------------

    async def ensure_customer(
        self,
        *,
        customer_id: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> str:
        """Find the simulated customer for the engine customer, or create it."""

        async def effect(session: AsyncSession) -> _Outcome:
            existing = (
                await session.execute(
                    select(SimCustomer).where(SimCustomer.engine_customer_id == customer_id)
                )
            ).scalar_one_or_none()
            if existing is not None:
                return _Outcome(_customer_ref(existing))
            now = self._real_now()
            created = SimCustomer(
                id=_new_id("cus"),
                engine_customer_id=customer_id,
                email=email,
                name=name,
                balance_cents=0,
                invoice_sequence=0,
                clock_offset_seconds=0,
                created_at=now,
            )
            session.add(created)
            await session.flush()
            self._emit(session, created, "customer.created", render.customer(created), now)
            return _Outcome(_customer_ref(created))

        obj = await self._idempotent(
            idempotency_key, "ensure_customer", {"customer_id": customer_id}, effect
        )
        return str(obj["id"])

    async def update_customer(
        self,
        provider_customer_id: str,
        *,
        idempotency_key: str,
        email: str | None = None,
        name: str | None = None,
        address: Address | None = None,
    ) -> None:
        async def effect(session: AsyncSession) -> _Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            if email is not None:
                customer.email = email
            if name is not None:
                customer.name = name
            if address is not None:
                customer.address = asdict(address)
            obj = render.customer(customer)
            self._emit(session, customer, "customer.updated", obj, self._now(customer))
            return _Outcome(_customer_ref(customer))

        fields = {
            "customer": provider_customer_id,
            "email": email is not None,
            "name": name is not None,
            "address": address is not None,
        }
        await self._idempotent(idempotency_key, "update_customer", fields, effect)

    async def erase_customer(self, provider_customer_id: str, *, idempotency_key: str) -> None:
        async def effect(session: AsyncSession) -> _Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            customer.email = None
            customer.name = None
            customer.address = None
            customer.erased_at = self._now(customer)
            # Customer events carried the personal data too: scrub the log's copies.
            logged = await session.execute(
                select(SimEvent).where(
                    SimEvent.customer_id == customer.id, SimEvent.type.like("customer.%")
                )
            )
            for row in logged.scalars():
                obj = row.payload.get("data", {}).get("object", {})
                if obj.get("object") == "customer":
                    scrubbed = {**obj, "email": None, "name": None, "address": None}
                    row.payload = {
                        **row.payload,
                        "data": {**row.payload["data"], "object": scrubbed},
                    }
            return _Outcome(_customer_ref(customer))

        await self._idempotent(
            idempotency_key, "erase_customer", {"customer": provider_customer_id}, effect
        )

    async def attach_payment_method(
        self, provider_customer_id: str, payment_method: str, *, idempotency_key: str
    ) -> PaymentMethodInfo:
        async def effect(session: AsyncSession) -> _Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            pm = await self._attach(session, customer, payment_method)
            return _Outcome(render.payment_method(pm))

        obj = await self._idempotent(
            idempotency_key,
            "attach_payment_method",
            {"customer": provider_customer_id, "payment_method": payment_method},
            effect,
        )
        return parse_payment_method(obj)

    async def default_payment_method(self, provider_customer_id: str) -> PaymentMethodInfo | None:
        async with self._sessions() as session:
            customer = await self._get_customer(session, provider_customer_id)
            if not customer.default_payment_method_id:
                return None
            pm = await session.get(SimPaymentMethod, customer.default_payment_method_id)
            return parse_payment_method(render.payment_method(pm)) if pm is not None else None

    # -- subscriptions --------------------------------------------------------------------

    async def create_subscription(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        idempotency_key: str,
        coupon: str | None = None,
    ) -> SubscriptionInfo:
        async def effect(session: AsyncSession) -> _Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            sim_price = self._price(price.lookup_key)
            sim_coupon = resolve_coupon(coupon, self._catalog) if coupon else None
            sub, inv = await self._subscribe(session, customer, customer_id, sim_price, sim_coupon)
            now = self._now(customer)
            self._emit(
                session, customer, "customer.subscription.created", self._render_sub(sub), now
            )
            self._emit(session, customer, "invoice.paid", self._render_invoice(inv), now)
            return _Outcome(self._render_sub(sub, latest_invoice=inv))

        obj = await self._idempotent(
            idempotency_key,
            "create_subscription",
            {
                "customer": provider_customer_id,
                "customer_id": customer_id,
                "price": price.lookup_key,
                "coupon": coupon,
            },
            effect,
        )
        return parse_subscription(obj)

    async def change_price(
        self,
        subscription_id: str,
        price: PriceRef,
        *,
        proration: ProrationBehavior,
        idempotency_key: str,
    ) -> SubscriptionInfo:
        async def effect(session: AsyncSession) -> _Outcome:
            customer, sub = await self._lock_subscription(session, subscription_id)
            self._require_live(sub)
            new = self._price(price.lookup_key)
            if new.lookup_key == sub.price_lookup_key:
                return _Outcome(await self._render_sub_expanded(session, sub))
            now = self._now(customer)
            inv_id = _new_id("in")
            change = self._plan_change(sub, new, proration, now, inv_id)
            inv: SimInvoice | None = None
            if change.lines:
                inv = self._new_invoice(
                    session,
                    customer,
                    sub,
                    change.lines,
                    billing_reason="subscription_update",
                    now=now,
                    period=(now, now),
                    invoice_id=inv_id,
                )
                error = await self._collect(
                    session, customer, inv, now, require_payment_method=True
                )
                if error is not None:
                    raise error  # rolls everything back: the price stays as it was
                sub.latest_invoice_id = inv.id
            if change.new_period is not None:
                sub.billing_cycle_anchor = change.new_period[0]
                sub.current_period_start, sub.current_period_end = change.new_period
            sub.price_lookup_key = new.lookup_key
            sub.scheduled_price_lookup_key = None
            sub.updated_at = now
            if inv is not None:
                self._emit(session, customer, "invoice.paid", self._render_invoice(inv), now)
            self._emit(
                session, customer, "customer.subscription.updated", self._render_sub(sub), now
            )
            return _Outcome(await self._render_sub_expanded(session, sub))

        obj = await self._idempotent(
            idempotency_key,
            "change_price",
            {"subscription": subscription_id, "price": price.lookup_key, "proration": proration},
            effect,
        )
        return parse_subscription(obj)

    async def add_subscription_item(
        self, subscription_id: str, lookup_key: str, quantity: int, *, idempotency_key: str
    ) -> SubscriptionInfo:
        """Like Stripe's subscription item create (or update of the item with that price)
        with ``proration_behavior=always_invoice`` and ``payment_behavior=error_if_incomplete``:
        the rest of the current period is invoiced and charged now. A new item is charged its
        remaining time; a raised quantity is credited the unused time on the old quantity and
        charged the remaining time on the new one (each line rounded on its own). A decline
        raises and changes nothing."""

        async def effect(session: AsyncSession) -> _Outcome:
            customer, sub = await self._lock_subscription(session, subscription_id)
            self._require_live(sub)
            addon = self._addon_price(sub, lookup_key, quantity)
            now = self._now(customer)
            items = [dict(item) for item in sub.items or []]
            item = next((i for i in items if i["price"] == addon.lookup_key), None)
            old_quantity = int(item.get("quantity") or 1) if item is not None else 0
            if item is None:
                item = {"id": _new_id("si"), "price": addon.lookup_key, "quantity": quantity}
                items.append(item)
            else:
                item["quantity"] = old_quantity + quantity
            inv_id = _new_id("in")
            lines = self._quantity_change_lines(
                inv_id, sub, str(item["id"]), addon, old_quantity, int(item["quantity"]), now
            )
            inv = self._new_invoice(
                session,
                customer,
                sub,
                lines,
                billing_reason="subscription_update",
                now=now,
                period=(now, now),
                invoice_id=inv_id,
            )
            error = await self._collect(session, customer, inv, now, require_payment_method=True)
            if error is not None:
                raise error  # rolls everything back: the items stay as they were
            sub.items = items
            sub.latest_invoice_id = inv.id
            sub.updated_at = now
            self._emit(session, customer, "invoice.paid", self._render_invoice(inv), now)
            self._emit(
                session, customer, "customer.subscription.updated", self._render_sub(sub), now
            )
            return _Outcome(await self._render_sub_expanded(session, sub))

        obj = await self._idempotent(
            idempotency_key,
            "add_subscription_item",
            {"subscription": subscription_id, "price": lookup_key, "quantity": quantity},
            effect,
        )
        return parse_subscription(obj)

    async def schedule_price_change(
        self, subscription_id: str, price: PriceRef, *, idempotency_key: str
    ) -> SubscriptionInfo:
        def mutate(sub: SimSubscription, now: datetime) -> str:
            self._require_live(sub)
            new = self._price(price.lookup_key)
            same = new.lookup_key == sub.price_lookup_key
            sub.scheduled_price_lookup_key = None if same else new.lookup_key
            return "customer.subscription.updated"

        return await self._update_subscription(
            subscription_id,
            idempotency_key,
            "schedule_price_change",
            {"price": price.lookup_key},
            mutate,
        )

    async def cancel_scheduled_change(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        def mutate(sub: SimSubscription, now: datetime) -> str:
            sub.scheduled_price_lookup_key = None
            return "customer.subscription.updated"

        return await self._update_subscription(
            subscription_id, idempotency_key, "cancel_scheduled_change", {}, mutate
        )

    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> SubscriptionInfo:
        """At period end: the flag (and ``canceled_at``, as Stripe sets it at the request).
        Now: canceled at once, no refund. Canceling a canceled subscription changes nothing."""

        def mutate(sub: SimSubscription, now: datetime) -> str | None:
            if sub.status == "canceled":
                return None
            sub.canceled_at = now
            if at_period_end:
                sub.cancel_at_period_end = True
                return "customer.subscription.updated"
            sub.status = "canceled"
            sub.ended_at = now
            sub.cancel_at_period_end = False
            return "customer.subscription.deleted"

        return await self._update_subscription(
            subscription_id,
            idempotency_key,
            "cancel_subscription",
            {"at_period_end": at_period_end},
            mutate,
        )

    async def reactivate_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        def mutate(sub: SimSubscription, now: datetime) -> str:
            self._require_live(sub)
            sub.cancel_at_period_end = False
            sub.canceled_at = None
            return "customer.subscription.updated"

        return await self._update_subscription(
            subscription_id, idempotency_key, "reactivate_subscription", {}, mutate
        )

    async def pause_subscription(
        self, subscription_id: str, *, resumes_at: datetime | None, idempotency_key: str
    ) -> SubscriptionInfo:
        def mutate(sub: SimSubscription, now: datetime) -> str:
            self._require_live(sub)
            sub.pause_behavior = "void"
            sub.pause_resumes_at = resumes_at.replace(microsecond=0) if resumes_at else None
            return "customer.subscription.updated"

        return await self._update_subscription(
            subscription_id,
            idempotency_key,
            "pause_subscription",
            {"resumes_at": resumes_at.isoformat() if resumes_at else None},
            mutate,
        )

    async def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        def mutate(sub: SimSubscription, now: datetime) -> str:
            self._require_live(sub)
            sub.pause_behavior = None
            sub.pause_resumes_at = None
            return "customer.subscription.updated"

        return await self._update_subscription(
            subscription_id, idempotency_key, "resume_subscription", {}, mutate
        )

    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        async with self._sessions() as session:
            sub = await self._get_subscription(session, subscription_id)
            return parse_subscription(await self._render_sub_expanded(session, sub))

    async def preview_change(
        self,
        *,
        provider_customer_id: str,
        subscription_id: str | None,
        price: PriceRef,
        proration: ProrationBehavior,
    ) -> InvoicePreview:
        async with self._sessions() as session:
            customer = await self._get_customer(session, provider_customer_id)
            new = self._price(price.lookup_key)
            now = self._now(customer)
            inv_id = "upcoming_" + _new_id("in")
            if subscription_id is None:
                end = add_interval(now, _interval(new))
                lines = [self._full_line(inv_id, None, None, new, now, end)]
                change = _Change(lines, (now, end), new.amount_cents, end)
            else:
                sub = await self._get_subscription(session, subscription_id)
                if sub.customer_id != customer.id:
                    raise PaymentRequestRejected(
                        f"Subscription {subscription_id} belongs to another customer",
                        code="resource_missing",
                    )
                self._require_live(sub)
                change = self._plan_change(sub, new, proration, now, inv_id)
            total = sum(int(line["amount"]) for line in change.lines)
            applied = total + customer.balance_cents
            next_amount = max(change.next_amount_cents + min(applied, 0), 0)
            preview = {
                "id": inv_id,
                "customer": customer.id,
                "currency": new.currency,
                "lines": {"data": change.lines},
            }
            return InvoicePreview(
                amount_due_now_cents=max(applied, 0) if change.lines else 0,
                currency=new.currency,
                lines=parse_invoice(preview).lines,
                next_invoice_amount_cents=next_amount,
                next_invoice_at=change.next_at,
            )

    # -- invoices -------------------------------------------------------------------------

    async def list_invoices(
        self, provider_customer_id: str, *, limit: int = 24
    ) -> list[InvoiceInfo]:
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
            return [parse_invoice(self._render_invoice(inv)) for inv in rows]

    async def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        """Not in the gateway protocol: for the simulator's own pages and tests."""
        async with self._sessions() as session:
            inv = await session.get(SimInvoice, invoice_id)
            if inv is None:
                raise PaymentRequestRejected(
                    f"No such invoice: '{invoice_id}'", code="resource_missing"
                )
            return parse_invoice(self._render_invoice(inv))

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceInfo:
        async def effect(session: AsyncSession) -> _Outcome:
            inv = await session.get(SimInvoice, invoice_id)
            if inv is None:
                raise PaymentRequestRejected(
                    f"No such invoice: '{invoice_id}'", code="resource_missing"
                )
            customer = await self._lock_customer(session, inv.customer_id)
            inv = (
                await session.execute(
                    select(SimInvoice)
                    .where(SimInvoice.id == invoice_id)
                    .execution_options(populate_existing=True)
                )
            ).scalar_one()
            if inv.status == "paid":
                # Paid meanwhile (the customer, or an earlier attempt): like the Stripe
                # adapter, answer the paid invoice and charge nothing.
                return _Outcome(self._render_invoice(inv))
            if inv.status != "open":
                raise PaymentRequestRejected(
                    f"You cannot pay an invoice with status {inv.status}",
                    code="invoice_not_open",
                )
            now = self._now(customer)
            error = await self._collect(session, customer, inv, now, require_payment_method=True)
            if error is not None:
                self._emit(
                    session, customer, "invoice.payment_failed", self._render_invoice(inv), now
                )
                return _Outcome(self._render_invoice(inv), error=error)
            self._emit(session, customer, "invoice.paid", self._render_invoice(inv), now)
            await self._settle_past_due(session, customer, inv, now)
            return _Outcome(self._render_invoice(inv))

        obj = await self._idempotent(
            idempotency_key, "pay_invoice", {"invoice": invoice_id}, effect
        )
        return parse_invoice(obj)

    async def charge_one_off(
        self,
        provider_customer_id: str,
        lookup_key: str,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> InvoiceInfo:
        """Like Stripe's invoice item + invoice (``billing_reason=manual``), finalized and paid
        at once. A decline leaves the failed attempt on record, voids the invoice (giving
        back any customer credit it used) and raises."""

        async def effect(session: AsyncSession) -> _Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            p = self._price(lookup_key)
            if p.interval is not None:
                raise PaymentRequestRejected(
                    f"Price {lookup_key} is recurring: an invoice item takes a one-time price",
                    code="parameter_invalid_string",
                )
            _require_quantity(quantity)
            if not customer.default_payment_method_id:
                raise PaymentMethodRequired(f"Customer {customer.id} has no default payment method")
            now = self._now(customer)
            inv_id = _new_id("in")
            line = render.invoice_line(
                line_id=_new_id("il"),
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
                invoice_item_id=_new_id("ii"),
            )
            inv = self._new_invoice(
                session,
                customer,
                None,
                [line],
                billing_reason="manual",
                now=now,
                period=(now, now),
                invoice_id=inv_id,
            )
            error = await self._collect(session, customer, inv, now, require_payment_method=True)
            if error is not None:
                self._emit(
                    session, customer, "invoice.payment_failed", self._render_invoice(inv), now
                )
                # Whatever credit the invoice used goes back to the customer's balance.
                customer.balance_cents += inv.starting_balance_cents - inv.ending_balance_cents
                inv.status = "void"
                inv.amount_remaining_cents = 0
                inv.next_payment_attempt = None
                inv.voided_at = now
                voided = self._render_invoice(inv)
                self._emit(session, customer, "invoice.voided", voided, now)
                return _Outcome(voided, error=error)
            self._emit(session, customer, "invoice.paid", self._render_invoice(inv), now)
            return _Outcome(self._render_invoice(inv))

        obj = await self._idempotent(
            idempotency_key,
            "charge_one_off",
            {"customer": provider_customer_id, "price": lookup_key, "quantity": quantity},
            effect,
        )
        return parse_invoice(obj)

    async def mark_invoice_uncollectible(
        self, invoice_id: str, *, idempotency_key: str
    ) -> InvoiceInfo:
        async def effect(session: AsyncSession) -> _Outcome:
            inv = await session.get(SimInvoice, invoice_id)
            if inv is None:
                raise PaymentRequestRejected(
                    f"No such invoice: '{invoice_id}'", code="resource_missing"
                )
            customer = await self._lock_customer(session, inv.customer_id)
            if inv.status != "open":
                return _Outcome(self._render_invoice(inv))
            now = self._now(customer)
            inv.status = "uncollectible"
            self._emit(
                session, customer, "invoice.marked_uncollectible", self._render_invoice(inv), now
            )
            await self._settle_past_due(session, customer, inv, now)
            return _Outcome(self._render_invoice(inv))

        obj = await self._idempotent(
            idempotency_key, "mark_invoice_uncollectible", {"invoice": invoice_id}, effect
        )
        return parse_invoice(obj)

    # -- hosted pages ---------------------------------------------------------------------

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
    ) -> str:
        async def effect(session: AsyncSession) -> _Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            self._price(price.lookup_key)
            if coupon:
                resolve_coupon(coupon, self._catalog)
            now = self._now(customer)
            session_id = _new_id("cs")
            cs = SimCheckoutSession(
                id=session_id,
                mode="subscription",
                customer_id=customer.id,
                engine_customer_id=customer_id,
                price_lookup_key=price.lookup_key,
                coupon=coupon,
                success_url=success_url,
                cancel_url=cancel_url,
                url=f"{self._base_url}/v1/simulator/checkout/{session_id}",
                status="open",
                completion_event_ids=[],
                created_at=now,
                expires_at=now + CHECKOUT_SESSION_LIFETIME,
            )
            session.add(cs)
            return _Outcome(render.checkout_session(cs))

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
            },
            effect,
        )
        return str(obj["url"])

    async def create_portal_session(self, *, provider_customer_id: str, return_url: str) -> str:
        async with self._sessions.begin() as session:
            customer = await self._lock_customer(session, provider_customer_id)
            now = self._now(customer)
            session_id = _new_id("bps")
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
                    completion_event_ids=[],
                    created_at=now,
                    expires_at=now + CHECKOUT_SESSION_LIFETIME,
                )
            )
        return url

    async def get_checkout_session(self, session_id: str) -> dict[str, Any]:
        """A Checkout session (or portal session) as Stripe JSON, plus ``mode``,
        ``price_lookup_key``, ``amount_total`` and ``return_url``, for the simulator's pages."""
        async with self._sessions() as session:
            cs = await session.get(SimCheckoutSession, session_id)
            if cs is None:
                raise PaymentRequestRejected(
                    f"No such checkout session: '{session_id}'", code="resource_missing"
                )
            obj = render.checkout_session(cs)
            obj["mode"] = cs.mode
            obj["price_lookup_key"] = cs.price_lookup_key
            obj["return_url"] = cs.return_url
            obj["amount_total"] = (
                self._price(cs.price_lookup_key).amount_cents if cs.price_lookup_key else None
            )
            return obj

    async def complete_checkout(self, session_id: str, payment_method: str) -> list[dict[str, Any]]:
        """Pay a Checkout session with a test payment method, as the customer would on the
        hosted page: attach it, subscribe, and return ``checkout.session.completed`` and
        ``invoice.paid``. A decline raises ``CardDeclined`` and the session stays open. A
        completed session returns the events of its completion again."""
        async with self._sessions.begin() as session:
            found = await session.get(SimCheckoutSession, session_id)
            if found is None or found.mode != "subscription":
                raise PaymentRequestRejected(
                    f"No such checkout session: '{session_id}'", code="resource_missing"
                )
            customer = await self._lock_customer(session, found.customer_id)
            cs = (
                await session.execute(
                    select(SimCheckoutSession)
                    .where(SimCheckoutSession.id == session_id)
                    .execution_options(populate_existing=True)
                )
            ).scalar_one()
            if cs.status == "complete":
                return await self._events_by_id(session, list(cs.completion_event_ids))
            now = self._now(customer)
            if cs.status != "open" or now >= cs.expires_at:
                raise _rejected_state(f"Checkout session {session_id} has expired")
            assert cs.price_lookup_key is not None
            await self._attach(session, customer, payment_method)
            sub, inv = await self._subscribe(
                session,
                customer,
                cs.engine_customer_id or customer.engine_customer_id,
                self._price(cs.price_lookup_key),
                resolve_coupon(cs.coupon, self._catalog) if cs.coupon else None,
            )
            cs.status = "complete"
            cs.subscription_id = sub.id
            cs.completed_at = now
            events = [
                self._emit(
                    session,
                    customer,
                    "checkout.session.completed",
                    render.checkout_session(cs, invoice_id=inv.id),
                    now,
                ),
                self._emit(session, customer, "invoice.paid", self._render_invoice(inv), now),
            ]
            cs.completion_event_ids = [e["id"] for e in events]
            return events

    # -- test clock -----------------------------------------------------------------------

    async def advance_to_period_end(self, provider_customer_id: str) -> list[dict[str, Any]]:
        """Move the customer's test clock to its subscription's period end and renew there
        like Stripe: returns the events (in order), also recorded in the event log."""
        async with self._sessions.begin() as session:
            customer = await self._lock_customer(session, provider_customer_id)
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
            if sub is None:
                raise _rejected_state(f"Customer {provider_customer_id} has no live subscription")
            offset = int((sub.current_period_end - self._real_now()).total_seconds())
            customer.clock_offset_seconds = max(customer.clock_offset_seconds, offset)
            return await self._renew_due(session, customer, sub)

    async def advance_clock(self, provider_customer_id: str, delta: timedelta) -> list[Json]:
        """Move the customer's test clock forward by ``delta`` and renew whatever fell due."""
        if delta < timedelta(0):
            raise ValueError("test clocks only move forward")
        async with self._sessions.begin() as session:
            customer = await self._lock_customer(session, provider_customer_id)
            customer.clock_offset_seconds += int(delta.total_seconds())
            events: list[Json] = []
            for sub in await self._live_subscriptions(session, customer.id):
                events += await self._renew_due(session, customer, sub)
            return events

    async def renew_due_subscriptions(self, provider_customer_id: str | None = None) -> list[Json]:
        """Renew every subscription (or one customer's) whose period ended on its customer's
        clock. Stripe does this by itself; call it periodically to get the same here."""
        query = select(SimSubscription.customer_id).where(SimSubscription.status.in_(LIVE_STATUSES))
        if provider_customer_id is not None:
            query = query.where(SimSubscription.customer_id == provider_customer_id)
        async with self._sessions() as session:
            customer_ids = list((await session.execute(query.distinct())).scalars())
        events: list[Json] = []
        for customer_id in customer_ids:
            async with self._sessions.begin() as session:
                customer = await self._lock_customer(session, customer_id)
                for sub in await self._live_subscriptions(session, customer.id):
                    events += await self._renew_due(session, customer, sub)
        return events

    async def now_for(self, provider_customer_id: str) -> datetime:
        """The customer's test-clock time."""
        async with self._sessions() as session:
            return self._now(await self._get_customer(session, provider_customer_id))

    async def events(
        self, provider_customer_id: str | None = None, *, limit: int = 100
    ) -> list[Json]:
        """The event log, oldest first (optionally one customer's)."""
        async with self._sessions() as session:
            query = select(SimEvent.payload).order_by(SimEvent.seq).limit(limit)
            if provider_customer_id is not None:
                query = query.where(SimEvent.customer_id == provider_customer_id)
            return [dict(p) for p in (await session.execute(query)).scalars()]

    # -- internals: idempotency ---------------------------------------------------------

    async def _idempotent(
        self,
        key: str,
        operation: str,
        params: dict[str, Any],
        effect: Callable[[AsyncSession], Awaitable[_Outcome]],
    ) -> Json:
        """Run ``effect`` once per key; its outcome is stored with its effects, atomically."""
        if not key:
            raise PaymentRequestRejected("An idempotency key is required", code="parameter_missing")
        request_hash = hashlib.sha256(
            json.dumps({"operation": operation, **params}, sort_keys=True, default=str).encode()
        ).hexdigest()
        contention: Exception | None = None
        for _ in range(5):
            stored = await self._stored(key, operation, request_hash)
            if stored is not None:
                return self._replay(stored)
            try:
                async with self._sessions.begin() as session:
                    record = SimIdempotencyRecord(
                        key=key,
                        operation=operation,
                        request_hash=request_hash,
                        response=None,
                        created_at=self._real_now(),
                    )
                    session.add(record)
                    # Insert first: a concurrent call with the same key waits here for this
                    # transaction, then fails on the key and reads the stored outcome.
                    await session.flush()
                    outcome = await effect(session)
                    record.response = (
                        {"error": _error_json(outcome.error)}
                        if outcome.error is not None
                        else {"object": outcome.obj}
                    )
            except IntegrityError as error:
                # The key's twin committed first (or another unique row raced us): read again.
                contention = error
                await asyncio.sleep(0.01)
                continue
            except CardDeclined as declined:
                # Effects rolled back; remember the decline like Stripe does.
                async with self._sessions.begin() as session:
                    await insert_ignoring_conflict(
                        session,
                        SimIdempotencyRecord,
                        {
                            "key": key,
                            "operation": operation,
                            "request_hash": request_hash,
                            "response": {"error": _error_json(declined)},
                            "created_at": self._real_now(),
                        },
                        on=["key"],
                    )
                raise
            if outcome.error is not None:
                raise outcome.error
            return outcome.obj
        raise PaymentProviderUnavailable(
            f"idempotency key {key!r} stayed contended; retry"
        ) from contention

    async def _stored(self, key: str, operation: str, request_hash: str) -> Json | None:
        async with self._sessions() as session:
            record = await session.get(SimIdempotencyRecord, key)
            if record is None or record.response is None:
                return None
            if record.operation != operation or record.request_hash != request_hash:
                raise PaymentRequestRejected(
                    f"Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with (key {key!r} was used for {record.operation})",
                    code="idempotency_error",
                )
            return dict(record.response)

    @staticmethod
    def _replay(stored: Json) -> Json:
        error = stored.get("error")
        if error:
            raise CardDeclined(
                str(error.get("message") or "Your card was declined."),
                code=str(error.get("code") or "card_declined"),
                decline_code=error.get("decline_code"),
            )
        return dict(stored["object"])

    # -- internals: loading and locking -------------------------------------------------

    def _real_now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def _now(self, customer: SimCustomer) -> datetime:
        return self._real_now() + timedelta(seconds=customer.clock_offset_seconds)

    async def _get_customer(self, session: AsyncSession, customer_id: str) -> SimCustomer:
        customer = await session.get(SimCustomer, customer_id)
        if customer is None:
            raise PaymentRequestRejected(
                f"No such customer: '{customer_id}'", code="resource_missing"
            )
        return customer

    async def _lock_customer(self, session: AsyncSession, customer_id: str) -> SimCustomer:
        """Serialize everything one customer's state goes through. A no-op UPDATE locks the
        row on PostgreSQL and takes the write lock on SQLite before anything is read."""
        result = await session.execute(
            update(SimCustomer)
            .where(SimCustomer.id == customer_id)
            .values(clock_offset_seconds=SimCustomer.clock_offset_seconds)
        )
        if not rows_affected(result):
            raise PaymentRequestRejected(
                f"No such customer: '{customer_id}'", code="resource_missing"
            )
        return (
            await session.execute(
                select(SimCustomer)
                .where(SimCustomer.id == customer_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()

    async def _get_subscription(
        self, session: AsyncSession, subscription_id: str
    ) -> SimSubscription:
        sub = await session.get(SimSubscription, subscription_id)
        if sub is None:
            raise PaymentRequestRejected(
                f"No such subscription: '{subscription_id}'", code="resource_missing"
            )
        return sub

    async def _lock_subscription(
        self, session: AsyncSession, subscription_id: str
    ) -> tuple[SimCustomer, SimSubscription]:
        found = await self._get_subscription(session, subscription_id)
        customer = await self._lock_customer(session, found.customer_id)
        sub = (
            await session.execute(
                select(SimSubscription)
                .where(SimSubscription.id == subscription_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        return customer, sub

    async def _live_subscriptions(
        self, session: AsyncSession, customer_id: str
    ) -> list[SimSubscription]:
        return list(
            (
                await session.execute(
                    select(SimSubscription)
                    .where(
                        SimSubscription.customer_id == customer_id,
                        SimSubscription.status.in_(LIVE_STATUSES),
                    )
                    .order_by(SimSubscription.created_at)
                    .execution_options(populate_existing=True)
                )
            ).scalars()
        )

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
            self._emit(
                session, customer, "customer.subscription.updated", self._render_sub(sub), now
            )

    async def _has_open_invoices(self, session: AsyncSession, subscription_id: str) -> bool:
        found = await session.execute(
            select(SimInvoice.id)
            .where(SimInvoice.subscription_id == subscription_id, SimInvoice.status == "open")
            .limit(1)
        )
        return found.first() is not None

    async def _events_by_id(self, session: AsyncSession, event_ids: list[str]) -> list[Json]:
        rows = await session.execute(
            select(SimEvent.payload).where(SimEvent.event_id.in_(event_ids)).order_by(SimEvent.seq)
        )
        return [dict(p) for p in rows.scalars()]

    def _require_live(self, sub: SimSubscription) -> None:
        if sub.status == "canceled":
            raise _rejected_state(
                f"Subscription {sub.id} is canceled: a canceled subscription cannot be updated"
            )

    def _price(self, lookup_key: str) -> SimPrice:
        return resolve_price(self._catalog, lookup_key)

    # -- internals: rendering ---------------------------------------------------------------

    def _render_sub(
        self, sub: SimSubscription, *, latest_invoice: SimInvoice | None = None
    ) -> Json:
        keys = [sub.price_lookup_key] + [str(i["price"]) for i in sub.items or []]
        prices = {key: self._price(key) for key in keys}
        return render.subscription(
            sub,
            prices,
            latest_invoice=self._render_invoice(latest_invoice) if latest_invoice else None,
        )

    async def _render_sub_expanded(self, session: AsyncSession, sub: SimSubscription) -> Json:
        await session.flush()
        latest = (
            await session.get(SimInvoice, sub.latest_invoice_id) if sub.latest_invoice_id else None
        )
        return self._render_sub(sub, latest_invoice=latest)

    def _render_invoice(self, inv: SimInvoice) -> Json:
        return render.invoice(inv, base_url=self._base_url)

    def _emit(
        self, session: AsyncSession, customer: SimCustomer, type_: str, obj: Json, at: datetime
    ) -> Json:
        event = render.event(_new_id("evt"), type_, at, obj)
        session.add(
            SimEvent(
                event_id=event["id"],
                customer_id=customer.id,
                type=type_,
                created=at,
                payload=event,
            )
        )
        return event

    # -- internals: payment methods and charges --------------------------------------------

    async def _attach(
        self, session: AsyncSession, customer: SimCustomer, payment_method: str
    ) -> SimPaymentMethod:
        now = self._now(customer)
        card = SIM_CARDS.get(payment_method)
        if card is not None:
            if card.decline is not None:
                raise _decline_error(card.decline)
            charge_decline = card.charge_decline
            pm = SimPaymentMethod(
                id=_new_id("pm"),
                customer_id=customer.id,
                source=payment_method,
                brand=card.brand,
                last4=card.last4,
                exp_month=12,
                exp_year=now.year + 3,
                charge_error_code=charge_decline.code if charge_decline else None,
                charge_decline_code=charge_decline.decline_code if charge_decline else None,
                created_at=now,
            )
            session.add(pm)
            await session.flush()
        else:
            existing = await session.get(SimPaymentMethod, payment_method)
            if existing is None:
                raise PaymentRequestRejected(
                    f"No such PaymentMethod: '{payment_method}'", code="resource_missing"
                )
            if existing.customer_id != customer.id:
                raise PaymentRequestRejected(
                    f"PaymentMethod {payment_method} is attached to another customer",
                    code="payment_method_unexpected_state",
                )
            pm = existing
        customer.default_payment_method_id = pm.id
        obj = render.payment_method(pm)
        self._emit(session, customer, "payment_method.attached", obj, now)
        return pm

    async def _collect(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        inv: SimInvoice,
        now: datetime,
        *,
        require_payment_method: bool,
    ) -> CardDeclined | None:
        """Attempt payment of an open invoice with the default payment method. The attempt is
        recorded on the invoice (and as a charge); a decline is returned, not raised."""
        if inv.amount_remaining_cents <= 0:
            self._mark_paid(inv, now)
            return None
        pm = (
            await session.get(SimPaymentMethod, customer.default_payment_method_id)
            if customer.default_payment_method_id
            else None
        )
        if pm is None:
            if require_payment_method:
                raise PaymentMethodRequired(f"Customer {customer.id} has no default payment method")
            inv.attempt_count += 1
            inv.attempted = True
            inv.last_payment_error = {
                "type": "invalid_request_error",
                "code": "payment_method_required",
                "decline_code": None,
                "message": "The customer has no default payment method.",
            }
            return CardDeclined(
                "The customer has no default payment method.", code="payment_method_required"
            )
        inv.attempt_count += 1
        inv.attempted = True
        declined = (
            CardDeclined(
                _decline_message(pm.charge_decline_code),
                code=pm.charge_error_code,
                decline_code=pm.charge_decline_code,
            )
            if pm.charge_error_code
            else None
        )
        session.add(
            SimCharge(
                id=_new_id("ch"),
                customer_id=customer.id,
                invoice_id=inv.id,
                payment_method_id=pm.id,
                amount_cents=inv.amount_remaining_cents,
                currency=inv.currency,
                status="failed" if declined else "succeeded",
                failure_code=declined.code if declined else None,
                decline_code=declined.decline_code if declined else None,
                created_at=now,
            )
        )
        if declined is not None:
            inv.last_payment_error = _error_json(declined)
            return declined
        inv.last_payment_error = None
        inv.amount_paid_cents += inv.amount_remaining_cents
        self._mark_paid(inv, now)
        return None

    @staticmethod
    def _mark_paid(inv: SimInvoice, now: datetime) -> None:
        inv.status = "paid"
        inv.amount_remaining_cents = 0
        inv.paid_at = now
        inv.next_payment_attempt = None

    # -- internals: subscriptions and invoices -----------------------------------------------

    def _full_line(
        self,
        invoice_id: str,
        sub: SimSubscription | None,
        item_id: str | None,
        p: SimPrice,
        start: datetime,
        end: datetime,
        quantity: int = 1,
    ) -> Json:
        return render.invoice_line(
            line_id=_new_id("il"),
            invoice_id=invoice_id,
            p=p,
            amount_cents=p.amount_cents * quantity,
            description=render.price_description(p, quantity),
            period_start=start,
            period_end=end,
            proration=False,
            subscription_id=sub.id if sub else None,
            subscription_item_id=item_id,
            quantity=quantity,
        )

    def _period_lines(
        self, invoice_id: str, sub: SimSubscription, start: datetime, end: datetime
    ) -> list[Json]:
        """A full period of every recurring item, as a renewal invoices it."""
        lines = [
            self._full_line(
                invoice_id, sub, sub.plan_item_id, self._price(sub.price_lookup_key), start, end
            )
        ]
        for item in sub.items or []:
            p = self._price(str(item["price"]))
            if p.interval is not None:
                quantity = int(item.get("quantity") or 1)
                lines.append(self._full_line(invoice_id, sub, item["id"], p, start, end, quantity))
        return lines

    def _recurring_total(self, sub: SimSubscription, plan_price: SimPrice) -> int:
        total = plan_price.amount_cents
        for item in sub.items or []:
            p = self._price(str(item["price"]))
            if p.interval is not None:
                total += p.amount_cents * int(item.get("quantity") or 1)
        return total

    def _addon_price(self, sub: SimSubscription, lookup_key: str, quantity: int) -> SimPrice:
        """The recurring add-on price ``lookup_key``, if it can be added to ``sub``."""
        _require_quantity(quantity)
        if not lookup_key.startswith(ADDON_PRICE_PREFIX):
            raise PaymentRequestRejected(
                f"Price {lookup_key} is not an add-on price", code="parameter_invalid_string"
            )
        addon = self._price(lookup_key)
        if addon.interval is None:
            raise PaymentRequestRejected(
                f"Price {lookup_key} is a one-time price: a subscription item takes a "
                "recurring price",
                code="parameter_invalid_string",
            )
        plan = self._price(sub.price_lookup_key)
        if addon.interval != plan.interval:
            # The simulator bills one period per subscription (no mixed intervals).
            raise PaymentRequestRejected(
                f"Price {lookup_key} bills per {addon.interval.value}, the subscription per "
                f"{_interval(plan).value}: every item must share the plan's interval",
                code="parameter_invalid_string",
            )
        return addon

    def _quantity_change_lines(
        self,
        invoice_id: str,
        sub: SimSubscription,
        item_id: str,
        p: SimPrice,
        old_quantity: int,
        new_quantity: int,
        now: datetime,
    ) -> list[Json]:
        """The proration lines of an item going from ``old_quantity`` (0: a new item) to
        ``new_quantity`` at ``now``, by the second like a price change."""
        end = sub.current_period_end
        result = prorate_change(
            p.amount_cents * old_quantity,
            p.amount_cents * new_quantity,
            sub.current_period_start,
            end,
            now,
        )

        def line(amount: int, description: str, quantity: int) -> Json:
            return render.invoice_line(
                line_id=_new_id("il"),
                invoice_id=invoice_id,
                p=p,
                amount_cents=amount,
                description=description,
                period_start=now,
                period_end=end,
                proration=True,
                subscription_id=sub.id,
                subscription_item_id=item_id,
                quantity=quantity,
            )

        lines = []
        if old_quantity:
            lines.append(
                line(
                    result.credit_cents,
                    unused_time_description(_quantity_name(p, old_quantity), now),
                    old_quantity,
                )
            )
        lines.append(
            line(
                result.charge_cents,
                remaining_time_description(_quantity_name(p, new_quantity), now),
                new_quantity,
            )
        )
        return lines

    def _plan_change(
        self,
        sub: SimSubscription,
        new: SimPrice,
        proration: ProrationBehavior,
        now: datetime,
        invoice_id: str,
    ) -> _Change:
        """The lines changing the plan price to ``new`` at ``now`` invoices, and the period
        after it. Same interval: prorated by the second (``always_invoice``) or nothing
        (``none``). Another interval: the cycle restarts now with a full new period, less
        the unused old time unless ``none``."""
        old = self._price(sub.price_lookup_key)
        start, end = sub.current_period_start, sub.current_period_end
        if new.lookup_key == old.lookup_key:
            return _Change([], None, self._recurring_total(sub, old), end)
        item = sub.plan_item_id

        def proration_line(p: SimPrice, amount: int, description: str, line_end: datetime) -> Json:
            return render.invoice_line(
                line_id=_new_id("il"),
                invoice_id=invoice_id,
                p=p,
                amount_cents=amount,
                description=description,
                period_start=now,
                period_end=line_end,
                proration=True,
                subscription_id=sub.id,
                subscription_item_id=item,
            )

        if new.interval == old.interval:
            if proration == "none":
                return _Change([], None, self._recurring_total(sub, new), end)
            result = prorate_change(old.amount_cents, new.amount_cents, start, end, now)
            lines = [
                proration_line(
                    old, result.credit_cents, unused_time_description(old.product_name, now), end
                ),
                proration_line(
                    new,
                    result.charge_cents,
                    remaining_time_description(new.product_name, now),
                    end,
                ),
            ]
            return _Change(lines, None, self._recurring_total(sub, new), end)
        result = prorate_cycle_reset(
            old.amount_cents, new.amount_cents, start, end, now, _interval(new)
        )
        lines = []
        if proration != "none" and result.credit_cents:
            lines.append(
                proration_line(
                    old, result.credit_cents, unused_time_description(old.product_name, now), end
                )
            )
        lines.append(
            self._full_line(invoice_id, sub, item, new, result.period_start, result.period_end)
        )
        return _Change(
            lines,
            (result.period_start, result.period_end),
            self._recurring_total(sub, new),
            result.period_end,
        )

    def _new_invoice(
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
        The customer's credit balance pays for what it can; a negative total becomes credit."""
        subtotal = sum(int(line["amount"]) for line in lines)
        discount = 0
        if coupon is not None:
            discountable = sum(int(line["amount"]) for line in lines if line.get("discountable"))
            discount = min(
                max(round_half_up(discountable * coupon.percent_off, 100), 0), discountable
            )
        total = subtotal - discount
        starting = customer.balance_cents if apply_balance else 0
        applied = total + starting
        amount_due = max(applied, 0)
        ending = min(applied, 0)
        if apply_balance:
            customer.balance_cents = ending
        customer.invoice_sequence += 1
        inv = SimInvoice(
            id=invoice_id,
            customer_id=customer.id,
            subscription_id=sub.id if sub else None,
            number=f"SIM-{customer.invoice_sequence:04d}",
            sequence=customer.invoice_sequence,
            status="open",
            billing_reason=billing_reason,
            currency=self._catalog.currency,
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
        )
        if amount_due == 0:
            self._mark_paid(inv, now)
        session.add(inv)
        return inv

    async def _subscribe(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        engine_customer_id: str | None,
        price: SimPrice,
        coupon: Coupon | None,
    ) -> tuple[SimSubscription, SimInvoice]:
        """Create a subscription and charge its first period; a decline raises (the caller's
        transaction rolls back, leaving nothing behind)."""
        if price.interval is None:
            raise PaymentRequestRejected(
                f"Price {price.lookup_key} is not recurring", code="parameter_invalid_string"
            )
        if not customer.default_payment_method_id:
            raise PaymentMethodRequired(
                f"Customer {customer.id} has no default payment method to pay the subscription"
            )
        now = self._now(customer)
        end = add_interval(now, price.interval)
        sub = SimSubscription(
            id=_new_id("sub"),
            customer_id=customer.id,
            status="active",
            price_lookup_key=price.lookup_key,
            plan_item_id=_new_id("si"),
            items=[],
            billing_cycle_anchor=now,
            current_period_start=now,
            current_period_end=end,
            cancel_at_period_end=False,
            coupon=coupon.id if coupon else None,
            meta={"customer_id": engine_customer_id} if engine_customer_id else {},
            currency=price.currency,
            created_at=now,
            updated_at=now,
        )
        session.add(sub)
        inv_id = _new_id("in")
        inv = self._new_invoice(
            session,
            customer,
            sub,
            self._period_lines(inv_id, sub, now, end),
            billing_reason="subscription_create",
            now=now,
            period=(now, now),
            invoice_id=inv_id,
            coupon=coupon,
        )
        error = await self._collect(session, customer, inv, now, require_payment_method=True)
        if error is not None:
            raise error
        sub.latest_invoice_id = inv.id
        await session.flush()
        return sub, inv

    async def _update_subscription(
        self,
        subscription_id: str,
        idempotency_key: str,
        operation: str,
        params: dict[str, Any],
        mutate: Callable[[SimSubscription, datetime], str | None],
    ) -> SubscriptionInfo:
        """A change without money: apply ``mutate`` and emit the event type it returns."""

        async def effect(session: AsyncSession) -> _Outcome:
            customer, sub = await self._lock_subscription(session, subscription_id)
            now = self._now(customer)
            event_type = mutate(sub, now)
            if event_type is not None:
                sub.updated_at = now
                self._emit(session, customer, event_type, self._render_sub(sub), now)
            return _Outcome(await self._render_sub_expanded(session, sub))

        obj = await self._idempotent(
            idempotency_key, operation, {"subscription": subscription_id, **params}, effect
        )
        return parse_subscription(obj)

    async def _renew_due(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription
    ) -> list[Json]:
        now = self._now(customer)
        events: list[Json] = []
        while sub.status in LIVE_STATUSES and sub.current_period_end <= now:
            events += await self._renew(session, customer, sub)
        return events

    async def _renew(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription
    ) -> list[Json]:
        """What Stripe does at a period end, at that moment of the customer's clock."""
        at = sub.current_period_end
        events: list[Json] = []

        def emit(type_: str, obj: Json) -> None:
            events.append(self._emit(session, customer, type_, obj, at))

        if sub.cancel_at_period_end:
            sub.status = "canceled"
            sub.ended_at = at
            sub.updated_at = at
            emit("customer.subscription.deleted", self._render_sub(sub))
            return events
        if sub.pause_behavior and sub.pause_resumes_at and sub.pause_resumes_at <= at:
            sub.pause_behavior = None
            sub.pause_resumes_at = None
        previous = (sub.current_period_start, sub.current_period_end)
        if sub.scheduled_price_lookup_key:
            old = self._price(sub.price_lookup_key)
            new = self._price(sub.scheduled_price_lookup_key)
            sub.price_lookup_key = new.lookup_key
            sub.scheduled_price_lookup_key = None
            if new.interval != old.interval:
                sub.billing_cycle_anchor = at
        interval = _interval(self._price(sub.price_lookup_key))
        sub.current_period_start = at
        sub.current_period_end = next_period_end(sub.billing_cycle_anchor, interval, at)
        sub.updated_at = at
        inv_id = _new_id("in")
        paused = sub.pause_behavior == "void"
        inv = self._new_invoice(
            session,
            customer,
            sub,
            self._period_lines(inv_id, sub, sub.current_period_start, sub.current_period_end),
            billing_reason="subscription_cycle",
            now=at,
            period=previous,
            invoice_id=inv_id,
            apply_balance=not paused,
        )
        sub.latest_invoice_id = inv.id
        if paused:
            inv.status = "void"
            inv.amount_remaining_cents = 0
            inv.paid_at = None
            inv.voided_at = at
            emit("invoice.voided", self._render_invoice(inv))
        else:
            error = await self._collect(session, customer, inv, at, require_payment_method=False)
            if error is None:
                sub.status = "active"
                emit("invoice.paid", self._render_invoice(inv))
            else:
                sub.status = "past_due"
                emit("invoice.payment_failed", self._render_invoice(inv))
        emit("customer.subscription.updated", self._render_sub(sub))
        return events


def _interval(price: SimPrice) -> BillingInterval:
    if price.interval is None:
        raise PaymentRequestRejected(
            f"Price {price.lookup_key} is not recurring", code="parameter_invalid_string"
        )
    return price.interval


def _require_quantity(quantity: int) -> None:
    if quantity < 1:
        raise PaymentRequestRejected(
            f"Invalid quantity {quantity}: it must be a positive integer",
            code="parameter_invalid_integer",
        )


def _quantity_name(price: SimPrice, quantity: int) -> str:
    """How Stripe names an item in proration lines: ``Extra chatbot``, ``2 \u00d7 Extra
    chatbot``."""
    if quantity == 1:
        return price.product_name
    return f"{quantity} {render.TIMES} {price.product_name}"


_DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
}


def _decline_message(decline_code: str | None) -> str:
    return _DECLINE_MESSAGES.get(decline_code or "", "Your card was declined.")
