"""Subscription schedules: a price change at the next renewal, as Stripe models it.

A scheduled change is a ``subscription_schedule`` with two phases (the current period at
the current price, then one period at the new price) and ``end_behavior: release``: the
subscription enters the second phase at its renewal and the schedule lets go of it when
that phase ends. The subscription names the schedule in ``schedule``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.simulator.core import SimulatorCore, new_id
from adapters.payments.simulator.lines import interval_of
from adapters.payments.simulator.models import SimCustomer, SimSubscription, SimSubscriptionSchedule
from adapters.payments.simulator.prices import SimPrice
from adapters.payments.simulator.render import unix
from domain.proration import add_interval


class SchedulesMixin(SimulatorCore):
    async def _live_schedule(
        self, session: AsyncSession, sub: SimSubscription
    ) -> SimSubscriptionSchedule | None:
        if not sub.schedule_id:
            return None
        schedule = await session.get(SimSubscriptionSchedule, sub.schedule_id)
        if schedule is None or schedule.status not in ("not_started", "active"):
            return None
        return schedule

    async def _schedule_change(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription, new: SimPrice
    ) -> None:
        """Schedule ``new`` for the next period (creating the schedule or replacing its
        phases); scheduling the current price releases the schedule."""
        now = self._now(customer)
        schedule = await self._live_schedule(session, sub)
        if new.lookup_key == sub.price_lookup_key:
            if schedule is not None:
                await self._release_schedule(session, customer, sub, schedule, now)
            return
        start, end = sub.current_period_start, sub.current_period_end
        phases = [
            {
                "start": unix(start),
                "end": unix(end),
                "price": sub.price_lookup_key,
                "current": True,
            },
            {
                "start": unix(end),
                "end": unix(add_interval(end, interval_of(new))),
                "price": new.lookup_key,
            },
        ]
        if schedule is not None:
            schedule.phases = phases
            self._emit(
                session,
                customer,
                "subscription_schedule.updated",
                self._render_schedule(schedule),
                now,
            )
            return
        schedule = SimSubscriptionSchedule(
            id=new_id("sub_sched"),
            customer_id=customer.id,
            subscription_id=sub.id,
            status="active",
            phases=phases,
            created_at=now,
        )
        session.add(schedule)
        sub.schedule_id = schedule.id
        sub.updated_at = now
        self._emit(
            session, customer, "subscription_schedule.created", self._render_schedule(schedule), now
        )
        self._emit(
            session,
            customer,
            "customer.subscription.updated",
            await self._render_sub(session, sub),
            now,
            {"schedule": None},
        )

    async def _release_schedule(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        sub: SimSubscription,
        schedule: SimSubscriptionSchedule,
        now: datetime,
    ) -> None:
        """The subscription goes on as it is, without the schedule."""
        schedule.status = "released"
        schedule.released_at = now
        sub.schedule_id = None
        sub.updated_at = now
        self._emit(
            session,
            customer,
            "subscription_schedule.released",
            self._render_schedule(schedule),
            now,
        )
        self._emit(
            session,
            customer,
            "customer.subscription.updated",
            await self._render_sub(session, sub),
            now,
            {"schedule": schedule.id},
        )

    async def _cancel_schedule(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription, now: datetime
    ) -> None:
        """The subscription ended: its schedule is canceled with it."""
        schedule = await self._live_schedule(session, sub)
        if schedule is None:
            return
        schedule.status = "canceled"
        schedule.canceled_at = now
        self._emit(
            session,
            customer,
            "subscription_schedule.canceled",
            self._render_schedule(schedule),
            now,
        )

    async def _advance_schedule(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription, at: datetime
    ) -> str | None:
        """At a renewal: the lookup key of the phase starting now, if one does (the caller
        switches the price); a schedule whose last phase ended releases the subscription."""
        schedule = await self._live_schedule(session, sub)
        if schedule is None:
            return None
        moment = unix(at) or 0
        phases = [dict(p) for p in schedule.phases or []]
        current = next((i for i, p in enumerate(phases) if p.get("current")), 0)
        following = phases[current + 1 : current + 2]
        starting = following[0] if following and int(following[0]["start"]) <= moment else None
        if starting is None:
            if all(int(p["end"]) <= moment for p in phases):
                await self._release_schedule(session, customer, sub, schedule, at)
            return None
        for phase in phases:
            phase["current"] = phase is starting
        schedule.phases = phases
        self._emit(
            session, customer, "subscription_schedule.updated", self._render_schedule(schedule), at
        )
        return str(starting["price"])
