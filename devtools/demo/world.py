"""What a seeding run's customer scripts and its provider share: the engine they feed, the
simulator, the server's clock, the moments, and the run's counts. The provider's own part
is here too: renewing what ended, as Stripe does by itself, and feeding its events in the
way its webhooks would (``services.payment_events``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select

from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator.models import SimSubscription
from db.models import Customer
from devtools.demo.clock import DAY, PHASE_OFFSET, Days, Phase, ServerClock, slot_of
from devtools.demo.personas import external_id_prefix
from services.context import EngineContext
from services.payment_events import ingest_payment_event


@dataclass
class World:
    engine: EngineContext
    gateway: SimulatedGateway
    clock: ServerClock
    start: datetime
    seed: int
    # Bounds the commands, renewals and queries in flight at once.
    gate: asyncio.Semaphore
    days: Days = field(default_factory=Days)
    commands: int = 0
    renewals: int = 0
    # Steps a customer could not take, described for the report.
    refused: list[str] = field(default_factory=list)
    # The simulator's subscriptions of this run's customers (and no one else's).
    ours: ColumnElement[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.ours = SimSubscription.customer_id.in_(
            select(Customer.provider_customer_id).where(
                Customer.external_id.like(f"{external_id_prefix(self.seed)}%")
            )
        )

    def day_of(self, moment: datetime) -> int:
        return (moment - self.start) // DAY

    def time_of(self, slot: int) -> datetime:
        day, phase = divmod(slot, len(Phase))
        return self.start + day * DAY + PHASE_OFFSET[Phase(phase)]

    async def renew_due(self) -> int:
        """What Stripe does by itself: renew the subscriptions whose period ended (on the
        simulator's test clock), and deliver the events like its webhooks would."""
        async with self.engine.sessions() as session:
            due = list(
                await session.scalars(
                    select(SimSubscription.customer_id)
                    .where(
                        self.ours,
                        SimSubscription.status.in_(("active", "past_due")),
                        SimSubscription.current_period_end <= self.clock.now,
                    )
                    .distinct()
                    .order_by(SimSubscription.customer_id)
                )
            )

        async def renew(provider_customer_id: str) -> None:
            async with self.gate:
                events = await self.gateway.renew_due_subscriptions(provider_customer_id)
                for event in events:
                    await ingest_payment_event(self.engine, event, provider="simulator")

        await asyncio.gather(*(renew(p) for p in due))
        self.renewals += len(due)
        return len(due)

    async def next_renewal_slot(self) -> int | None:
        """The first renewal moment at or after the earliest period end still to renew."""
        async with self.engine.sessions() as session:
            earliest = await session.scalar(
                select(func.min(SimSubscription.current_period_end)).where(
                    self.ours, SimSubscription.status.in_(("active", "past_due"))
                )
            )
        if earliest is None:
            return None
        slot = slot_of(self.day_of(earliest), Phase.RENEW)
        while self.time_of(slot) < earliest:
            slot += len(Phase)
        return max(slot, self.days.slot + 1)
