"""Subscribing, price and quantity changes, scheduled changes and previews."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import (
    CardDeclined,
    PaymentMethodRequired,
    PaymentRequestRejected,
    ProrationBehavior,
)
from adapters.payments.simulator import taxes
from adapters.payments.simulator.core import Outcome, new_id
from adapters.payments.simulator.lines import Change, LinesMixin, interval_of
from adapters.payments.simulator.models import SimCustomer, SimInvoice, SimSubscription
from adapters.payments.simulator.payments import PaymentsMixin
from adapters.payments.simulator.prices import Coupon, SimPrice, resolve_coupon
from adapters.payments.simulator.schedules import SchedulesMixin
from adapters.payments.stripe_objects import parse_invoice, parse_subscription
from domain.payments import InvoicePreview, PriceRef, SubscriptionInfo
from domain.proration import add_interval


class SubscribingMixin(SchedulesMixin, LinesMixin, PaymentsMixin):
    async def create_subscription(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        idempotency_key: str,
        coupon: str | None = None,
        currency: str | None = None,
    ) -> SubscriptionInfo:
        async def effect(session: AsyncSession) -> Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            if self._tax.enabled and taxes.buyer_of(customer) is None:
                # Stripe Tax refuses a subscription it could not tax (no usable address).
                raise PaymentRequestRejected(
                    "The customer's location isn't recognized as a valid tax location: "
                    "add a billing address with its country (and the state or province "
                    "in the US and Canada) before subscribing",
                    code="customer_tax_location_invalid",
                )
            sim_price = self._price(price.lookup_key, self._charge_currency(customer, currency))
            sim_coupon = resolve_coupon(coupon, self._catalog) if coupon else None
            sub, inv = await self._subscribe(session, customer, customer_id, sim_price, sim_coupon)
            now = self._now(customer)
            await self._emit_sub(session, customer, "customer.subscription.created", sub, now)
            await self._emit_invoice(session, customer, "invoice.paid", inv, now)
            return Outcome(await self._render_sub(session, sub, expand=True))

        obj = await self._idempotent(
            idempotency_key,
            "create_subscription",
            {
                "customer": provider_customer_id,
                "customer_id": customer_id,
                "price": price.lookup_key,
                "coupon": coupon,
                # Only when given: keys stored before currencies existed still match.
                **({"currency": currency} if currency else {}),
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
        async def effect(session: AsyncSession) -> Outcome:
            customer, sub = await self._lock_subscription(session, subscription_id)
            await self._change_price_now(
                session, customer, sub, self._price(price.lookup_key, sub.currency), proration
            )
            return Outcome(await self._render_sub(session, sub, expand=True))

        obj = await self._idempotent(
            idempotency_key,
            "change_price",
            {"subscription": subscription_id, "price": price.lookup_key, "proration": proration},
            effect,
        )
        return parse_subscription(obj)

    async def _change_price_now(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        sub: SimSubscription,
        new: SimPrice,
        proration: ProrationBehavior,
    ) -> None:
        """Swap the plan price; a decline raises (rolling back: the price stays)."""
        self._require_live(sub)
        if new.lookup_key == sub.price_lookup_key:
            return
        now = self._now(customer)
        inv_id = new_id("in")
        change = self._plan_change(sub, new, proration, now, inv_id)
        inv: SimInvoice | None = None
        if change.lines:
            inv = await self._new_invoice(
                session,
                customer,
                sub,
                change.lines,
                billing_reason="subscription_update",
                now=now,
                period=(now, now),
                invoice_id=inv_id,
            )
            error = await self._collect(session, customer, inv, now, require_payment_method=True)
            if error is not None:
                raise error
            sub.latest_invoice_id = inv.id
        schedule = await self._live_schedule(session, sub)
        if schedule is not None:
            # A change now replaces whatever was scheduled.
            await self._release_schedule(session, customer, sub, schedule, now)
        if change.new_period is not None:
            sub.billing_cycle_anchor = change.new_period[0]
            sub.current_period_start, sub.current_period_end = change.new_period
        sub.price_lookup_key = new.lookup_key
        sub.updated_at = now
        if inv is not None:
            await self._emit_invoice(session, customer, "invoice.paid", inv, now)
        await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)

    async def add_subscription_item(
        self, subscription_id: str, lookup_key: str, quantity: int, *, idempotency_key: str
    ) -> SubscriptionInfo:
        """Like Stripe's subscription item create (or update of the item with that price)
        with ``proration_behavior=always_invoice`` and ``payment_behavior=error_if_incomplete``:
        the rest of the current period is invoiced and charged now. A new item is charged its
        remaining time; a raised quantity is credited the unused time on the old quantity and
        charged the remaining time on the new one (each line rounded on its own). A decline
        raises and changes nothing."""

        async def effect(session: AsyncSession) -> Outcome:
            customer, sub = await self._lock_subscription(session, subscription_id)
            self._require_live(sub)
            addon = self._addon_price(sub, lookup_key, quantity)
            now = self._now(customer)
            items = [dict(item) for item in sub.items or []]
            item = next((i for i in items if i["price"] == addon.lookup_key), None)
            old_quantity = int(item.get("quantity") or 1) if item is not None else 0
            if item is None:
                item = {"id": new_id("si"), "price": addon.lookup_key, "quantity": quantity}
                items.append(item)
            else:
                item["quantity"] = old_quantity + quantity
            inv_id = new_id("in")
            lines = self._quantity_change_lines(
                inv_id, sub, str(item["id"]), addon, old_quantity, int(item["quantity"]), now
            )
            inv = await self._new_invoice(
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
            await self._emit_invoice(session, customer, "invoice.paid", inv, now)
            await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)
            return Outcome(await self._render_sub(session, sub, expand=True))

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
        async def change(
            session: AsyncSession, customer: SimCustomer, sub: SimSubscription
        ) -> None:
            self._require_live(sub)
            await self._schedule_change(
                session, customer, sub, self._price(price.lookup_key, sub.currency)
            )

        return await self._subscription_effect(
            subscription_id,
            idempotency_key,
            "schedule_price_change",
            {"price": price.lookup_key},
            change,
        )

    async def cancel_scheduled_change(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        async def change(
            session: AsyncSession, customer: SimCustomer, sub: SimSubscription
        ) -> None:
            schedule = await self._live_schedule(session, sub)
            if schedule is not None:
                await self._release_schedule(session, customer, sub, schedule, self._now(customer))

        return await self._subscription_effect(
            subscription_id, idempotency_key, "cancel_scheduled_change", {}, change
        )

    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        async with self._sessions() as session:
            sub = await self._get_subscription(session, subscription_id)
            return parse_subscription(await self._render_sub(session, sub, expand=True))

    async def preview_change(
        self,
        *,
        provider_customer_id: str,
        subscription_id: str | None,
        price: PriceRef,
        proration: ProrationBehavior,
    ) -> InvoicePreview:
        """Computed, never stored: a preview is not an invoice."""
        async with self._sessions() as session:
            customer = await self._get_customer(session, provider_customer_id)
            new = self._price(price.lookup_key, customer.currency)
            now = self._now(customer)
            inv_id = "upcoming_" + new_id("in")
            if subscription_id is None:
                end = add_interval(now, interval_of(new))
                lines = [self._full_line(inv_id, None, None, new, now, end)]
                change = Change(lines, (now, end), new.amount_cents, end)
            else:
                sub = await self._get_subscription(session, subscription_id)
                if sub.customer_id != customer.id:
                    raise PaymentRequestRejected(
                        f"Subscription {subscription_id} belongs to another customer",
                        code="resource_missing",
                    )
                self._require_live(sub)
                new = self._price(price.lookup_key, sub.currency)
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

    # -- test helpers: what Stripe does to a subscription by itself -------------------------

    async def _subscribe(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        engine_customer_id: str | None,
        price: SimPrice,
        coupon: Coupon | None,
        *,
        payment_method_id: str | None = None,
        in_checkout: bool = False,
    ) -> tuple[SimSubscription, SimInvoice]:
        """Create a subscription and charge its first period; a decline raises (the caller's
        transaction rolls back, leaving nothing behind). ``in_checkout``: the customer is on
        the page (3-D Secure completes) and a debit may stay processing, leaving the
        subscription ``incomplete``."""
        if price.interval is None:
            raise PaymentRequestRejected(
                f"Price {price.lookup_key} is not recurring", code="parameter_invalid_string"
            )
        if not (payment_method_id or customer.default_payment_method_id):
            raise PaymentMethodRequired(
                f"Customer {customer.id} has no default payment method to pay the subscription"
            )
        now = self._now(customer)
        end = add_interval(now, price.interval)
        sub = SimSubscription(
            id=new_id("sub"),
            customer_id=customer.id,
            status="active",
            price_lookup_key=price.lookup_key,
            plan_item_id=new_id("si"),
            items=[],
            billing_cycle_anchor=now,
            current_period_start=now,
            current_period_end=end,
            cancel_at_period_end=False,
            default_payment_method_id=payment_method_id,
            coupon=coupon.id if coupon else None,
            meta={"customer_id": engine_customer_id} if engine_customer_id else {},
            currency=price.currency,
            created_at=now,
            updated_at=now,
        )
        # Fixed from now on (``_charge_currency``).
        customer.currency = customer.currency or price.currency
        session.add(sub)
        await session.flush()
        inv_id = new_id("in")
        inv = await self._new_invoice(
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
        error: CardDeclined | None = await self._collect(
            session,
            customer,
            inv,
            now,
            require_payment_method=True,
            authenticated=in_checkout,
            allow_delayed=in_checkout,
        )
        if error is not None:
            raise error
        if inv.status == "open":
            sub.status = "incomplete"
        sub.latest_invoice_id = inv.id
        await session.flush()
        return sub, inv

    async def _subscription_effect(
        self,
        subscription_id: str,
        idempotency_key: str,
        operation: str,
        params: dict[str, Any],
        change: Callable[[AsyncSession, SimCustomer, SimSubscription], Any],
    ) -> SubscriptionInfo:
        """A change without money: ``change`` emits what it changed."""

        async def effect(session: AsyncSession) -> Outcome:
            customer, sub = await self._lock_subscription(session, subscription_id)
            await change(session, customer, sub)
            return Outcome(await self._render_sub(session, sub, expand=True))

        obj = await self._idempotent(
            idempotency_key, operation, {"subscription": subscription_id, **params}, effect
        )
        return parse_subscription(obj)
