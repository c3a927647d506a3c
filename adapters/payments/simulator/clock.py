"""The test clock: per-customer time, and what Stripe does when a period ends."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.simulator.core import (
    LIVE_STATUSES,
    Json,
    Outcome,
    new_id,
    rejected_state,
)
from adapters.payments.simulator.invoices import AUTHENTICATION_REQUIRED
from adapters.payments.simulator.lines import interval_of
from adapters.payments.simulator.models import SimCustomer, SimEvent, SimSubscription
from adapters.payments.simulator.prices import resolve_coupon
from adapters.payments.simulator.subscriptions import SubscriptionsMixin
from domain.proration import next_period_end


class ClockMixin(SubscriptionsMixin):
    async def advance_to_period_end(
        self, provider_customer_id: str, *, idempotency_key: str | None = None
    ) -> list[Json]:
        """Move the customer's test clock to its subscription's period end and renew there
        like Stripe: returns the events (in order), also recorded in the event log. With an
        ``idempotency_key``, a repeated call answers the first call's events and moves
        nothing (a client retrying after a lost answer renews one period, not two)."""
        if idempotency_key is None:
            return await self._advance_to_period_end(provider_customer_id)

        async def effect(session: AsyncSession) -> Outcome:
            events = await self._advance_in(session, provider_customer_id)
            return Outcome({"object": "list", "data": events})

        stored = await self._idempotent(
            idempotency_key,
            "advance_to_period_end",
            {"customer": provider_customer_id},
            effect,
        )
        return list(stored["data"])

    async def _advance_to_period_end(self, provider_customer_id: str) -> list[Json]:
        async with self._sessions.begin() as session:
            return await self._advance_in(session, provider_customer_id)

    async def _advance_in(self, session: AsyncSession, provider_customer_id: str) -> list[Json]:
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
            raise rejected_state(f"Customer {provider_customer_id} has no live subscription")
        offset = int((sub.current_period_end - self._real_now()).total_seconds())
        customer.clock_offset_seconds = max(customer.clock_offset_seconds, offset)
        await self._renew_due(session, customer, sub)
        return list(self._emitted(session))

    async def advance_clock(self, provider_customer_id: str, delta: timedelta) -> list[Json]:
        """Move the customer's test clock forward by ``delta`` and renew whatever fell due."""
        if delta < timedelta(0):
            raise ValueError("test clocks only move forward")
        async with self._sessions.begin() as session:
            customer = await self._lock_customer(session, provider_customer_id)
            customer.clock_offset_seconds += int(delta.total_seconds())
            for sub in await self._live_subscriptions(session, customer.id):
                await self._renew_due(session, customer, sub)
            return list(self._emitted(session))

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
                    await self._renew_due(session, customer, sub)
                events += self._emitted(session)
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

    async def _renew_due(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription
    ) -> None:
        now = self._now(customer)
        while sub.status in LIVE_STATUSES:
            if sub.cancel_at is not None and sub.cancel_at <= now:
                await self._end(session, customer, sub, sub.cancel_at, None)
            elif sub.current_period_end <= now:
                await self._renew(session, customer, sub)
            else:
                return

    async def _renew(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription
    ) -> None:
        """What Stripe does at a period end, at that moment of the customer's clock."""
        at = sub.current_period_end
        if sub.cancel_at_period_end:
            await self._end(session, customer, sub, at, None)
            return
        if sub.pause_behavior and sub.pause_resumes_at and sub.pause_resumes_at <= at:
            sub.pause_behavior = None
            sub.pause_resumes_at = None
        previous = (sub.current_period_start, sub.current_period_end)
        scheduled = await self._advance_schedule(session, customer, sub, at)
        if scheduled is not None and scheduled != sub.price_lookup_key:
            old = self._price(sub.price_lookup_key, sub.currency)
            new = self._price(scheduled, sub.currency)
            sub.price_lookup_key = new.lookup_key
            if new.interval != old.interval:
                sub.billing_cycle_anchor = at
        interval = interval_of(self._price(sub.price_lookup_key))
        sub.current_period_start = at
        sub.current_period_end = next_period_end(sub.billing_cycle_anchor, interval, at)
        sub.updated_at = at
        inv_id = new_id("in")
        paused = sub.pause_behavior == "void"
        # A coupon applied mid-period goes to this invoice (a voided one uses it up too).
        coupon = (
            resolve_coupon(sub.next_invoice_coupon, self._catalog)
            if sub.next_invoice_coupon
            else None
        )
        sub.next_invoice_coupon = None
        inv = await self._new_invoice(
            session,
            customer,
            sub,
            self._period_lines(inv_id, sub, sub.current_period_start, sub.current_period_end),
            billing_reason="subscription_cycle",
            now=at,
            period=previous,
            invoice_id=inv_id,
            apply_balance=not paused,
            coupon=coupon,
        )
        sub.latest_invoice_id = inv.id
        if paused:
            inv.paid_at = None
            await self._close_invoice(session, inv, "void", at)
            await self._emit_invoice(session, customer, "invoice.voided", inv, at)
        else:
            error = await self._collect(session, customer, inv, at, require_payment_method=False)
            if error is None:
                sub.status = "active"
                await self._emit_invoice(session, customer, "invoice.paid", inv, at)
            else:
                sub.status = "past_due"
                await self._emit_invoice(session, customer, "invoice.payment_failed", inv, at)
                if error.code == AUTHENTICATION_REQUIRED:
                    # 3-D Secure: the customer must act, on the hosted invoice page.
                    await self._emit_invoice(
                        session, customer, "invoice.payment_action_required", inv, at
                    )
        await self._emit_sub(session, customer, "customer.subscription.updated", sub, at)
