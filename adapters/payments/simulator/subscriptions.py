"""Subscriptions ending and pausing: cancellation (now, at period end, by Stripe after failed
payments), reactivation, pauses and resumes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.simulator.core import Json, new_id, rejected_state
from adapters.payments.simulator.lines import interval_of
from adapters.payments.simulator.models import SimCustomer, SimSubscription
from adapters.payments.simulator.prices import resolve_coupon
from adapters.payments.simulator.subscribing import SubscribingMixin
from domain.payments import SubscriptionInfo
from domain.proration import add_interval

# cancellation_details.reason of cancellations Stripe makes by itself.
INVOLUNTARY_REASONS = ("payment_failed", "payment_disputed")


class SubscriptionsMixin(SubscribingMixin):
    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> SubscriptionInfo:
        """At period end: the flag (and ``canceled_at``, as Stripe sets it at the request).
        Now: canceled at once, no refund. Canceling a canceled subscription changes nothing."""

        async def change(
            session: AsyncSession, customer: SimCustomer, sub: SimSubscription
        ) -> None:
            if sub.status in ("canceled", "incomplete_expired"):
                return
            now = self._now(customer)
            if at_period_end:
                sub.canceled_at = now
                sub.cancel_at_period_end = True
                sub.cancellation_reason = "cancellation_requested"
                sub.updated_at = now
                await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)
                return
            await self._end(session, customer, sub, now, "cancellation_requested")

        return await self._subscription_effect(
            subscription_id,
            idempotency_key,
            "cancel_subscription",
            {"at_period_end": at_period_end},
            change,
        )

    async def reactivate_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        """Undo a scheduled cancellation, the flag's or ``cancel_at``'s."""

        async def change(
            session: AsyncSession, customer: SimCustomer, sub: SimSubscription
        ) -> None:
            self._require_live(sub)
            now = self._now(customer)
            sub.cancel_at_period_end = False
            sub.cancel_at = None
            sub.canceled_at = None
            sub.cancellation_reason = None
            sub.updated_at = now
            await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)

        return await self._subscription_effect(
            subscription_id, idempotency_key, "reactivate_subscription", {}, change
        )

    async def pause_subscription(
        self, subscription_id: str, *, resumes_at: datetime | None, idempotency_key: str
    ) -> SubscriptionInfo:
        async def change(
            session: AsyncSession, customer: SimCustomer, sub: SimSubscription
        ) -> None:
            self._require_live(sub)
            now = self._now(customer)
            sub.pause_behavior = "void"
            sub.pause_resumes_at = resumes_at.replace(microsecond=0) if resumes_at else None
            sub.updated_at = now
            await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)

        return await self._subscription_effect(
            subscription_id,
            idempotency_key,
            "pause_subscription",
            {"resumes_at": resumes_at.isoformat() if resumes_at else None},
            change,
        )

    async def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        async def change(
            session: AsyncSession, customer: SimCustomer, sub: SimSubscription
        ) -> None:
            self._require_live(sub)
            now = self._now(customer)
            sub.pause_behavior = None
            sub.pause_resumes_at = None
            sub.updated_at = now
            await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)

        return await self._subscription_effect(
            subscription_id, idempotency_key, "resume_subscription", {}, change
        )

    async def apply_coupon(
        self, subscription_id: str, *, coupon: str, idempotency_key: str
    ) -> SubscriptionInfo:
        """Kept on the subscription until the next renewal's invoice takes it (duration
        ``once``), as Stripe does."""
        found = resolve_coupon(coupon, self._catalog)

        async def change(
            session: AsyncSession, customer: SimCustomer, sub: SimSubscription
        ) -> None:
            self._require_live(sub)
            now = self._now(customer)
            sub.next_invoice_coupon = found.id
            sub.updated_at = now
            await self._emit_sub(session, customer, "customer.subscription.updated", sub, now)

        return await self._subscription_effect(
            subscription_id, idempotency_key, "apply_coupon", {"coupon": coupon}, change
        )

    async def cancel_involuntarily(self, subscription_id: str, *, reason: str) -> list[Json]:
        """Cancel as Stripe does when its own retries fail (``payment_failed``, with "if all
        retries fail: cancel the subscription") or after a dispute (``payment_disputed``)."""
        if reason not in INVOLUNTARY_REASONS:
            raise ValueError(f"reason must be one of {INVOLUNTARY_REASONS}")
        async with self._sessions.begin() as session:
            customer, sub = await self._lock_subscription(session, subscription_id)
            self._require_live(sub)
            await self._end(session, customer, sub, self._now(customer), reason)
            return list(self._emitted(session))

    async def pause_by_status(self, subscription_id: str) -> list[Json]:
        """Pause as the pause endpoint (or a trial ending without a card) does: ``status:
        paused`` with no ``pause_collection``; no invoices until resumed."""
        async with self._sessions.begin() as session:
            customer, sub = await self._lock_subscription(session, subscription_id)
            if sub.status not in ("active", "past_due", "trialing"):
                raise rejected_state(f"Subscription {sub.id} is {sub.status}: it cannot pause")
            now = self._now(customer)
            previous = sub.status
            sub.status = "paused"
            sub.pause_behavior = None
            sub.pause_resumes_at = None
            sub.updated_at = now
            self._emit(
                session,
                customer,
                "customer.subscription.paused",
                await self._render_sub(session, sub),
                now,
                {"status": previous},
            )
            return list(self._emitted(session))

    async def resume_from_pause(self, subscription_id: str) -> list[Json]:
        """Resume a ``status: paused`` subscription like Stripe's resume endpoint (with
        ``billing_cycle_anchor=now``): a new period starts and is charged now."""
        async with self._sessions.begin() as session:
            customer, sub = await self._lock_subscription(session, subscription_id)
            if sub.status != "paused":
                raise rejected_state(f"Subscription {sub.id} is not paused")
            now = self._now(customer)
            end = add_interval(now, interval_of(self._price(sub.price_lookup_key, sub.currency)))
            sub.billing_cycle_anchor = now
            sub.current_period_start, sub.current_period_end = now, end
            inv_id = new_id("in")
            inv = await self._new_invoice(
                session,
                customer,
                sub,
                self._period_lines(inv_id, sub, now, end),
                billing_reason="subscription_cycle",
                now=now,
                period=(now, now),
                invoice_id=inv_id,
            )
            sub.latest_invoice_id = inv.id
            error = await self._collect(session, customer, inv, now, require_payment_method=False)
            sub.status = "active" if error is None else "past_due"
            sub.updated_at = now
            await self._emit_invoice(
                session,
                customer,
                "invoice.paid" if error is None else "invoice.payment_failed",
                inv,
                now,
            )
            self._emit(
                session,
                customer,
                "customer.subscription.resumed",
                await self._render_sub(session, sub),
                now,
                {"status": "paused"},
            )
            return list(self._emitted(session))

    # -- internals -------------------------------------------------------------------------

    async def _end(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        sub: SimSubscription,
        at: datetime,
        reason: str | None,
    ) -> None:
        """Cancel now: ``customer.subscription.deleted``, its schedule canceled with it."""
        sub.status = "canceled"
        sub.canceled_at = sub.canceled_at or at
        sub.ended_at = at
        sub.cancel_at_period_end = False
        sub.cancellation_reason = reason or sub.cancellation_reason
        sub.updated_at = at
        await self._cancel_schedule(session, customer, sub, at)
        await self._emit_sub(session, customer, "customer.subscription.deleted", sub, at)
