"""Redelivery of the payment simulator's events, as Stripe retries a webhook until it is
acknowledged.

The simulator's hosted pages and test clock feed their events to the engine in the same
request. If that request dies half-way (the API killed, the workflow service down), the
events stay unacknowledged in the simulator's log; this loop, run by the API next to the
simulator, delivers them again with backoff until the inbox has settled each (delivered or
ignored), the way Stripe retries an endpoint that did not answer 2xx. The inbox makes a
repeated delivery harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from adapters.payments.simulator.models import SimEvent
from api.context import AppContext
from api.errors import Problem
from api.webhooks.payment_events import ingest_event
from db.models import WebhookEvent

logger = logging.getLogger("lifecycle.simulator")

# How many of the latest events each pass looks at (a development tool's volume).
WINDOW = 1000
# The first redelivery after an event was first seen unacknowledged; doubling after each.
FIRST_RETRY = 5.0
MAX_RETRY = 300.0
_SETTLED = ("delivered", "ignored")


@dataclass
class _Pending:
    due: float
    delay: float


@dataclass
class SimulatorRedelivery:
    context: AppContext
    clock: Any = time.monotonic
    _pending: dict[str, _Pending] = field(default_factory=dict)

    async def deliver_once(self) -> int:
        """Deliver what is due again; returns how many deliveries were made."""
        async with self.context.sessions() as session:
            latest = (
                select(SimEvent.event_id, SimEvent.payload)
                .order_by(SimEvent.seq.desc())
                .limit(WINDOW)
                .subquery()
            )
            settled = select(WebhookEvent.id).where(WebhookEvent.status.in_(_SETTLED))
            rows = (
                await session.execute(
                    select(latest.c.event_id, latest.c.payload).where(
                        latest.c.event_id.not_in(settled)
                    )
                )
            ).all()
        now = self.clock()
        unacked = {event_id for event_id, _ in rows}
        for gone in set(self._pending) - unacked:
            del self._pending[gone]
        delivered = 0
        # Oldest first, as the simulator emitted them.
        for event_id, payload in sorted(rows, key=lambda row: str(row[1].get("created"))):
            pending = self._pending.get(event_id)
            if pending is None:
                # First seen unacknowledged: its own request may still be delivering it.
                self._pending[event_id] = _Pending(due=now + FIRST_RETRY, delay=FIRST_RETRY)
                continue
            if pending.due > now:
                continue
            pending.delay = min(pending.delay * 2, MAX_RETRY)
            pending.due = now + pending.delay
            try:
                await ingest_event(self.context, dict(payload), provider="simulator")
            except Problem as problem:
                # The workflow service or the provider is down: the next pass tries again.
                logger.warning("redelivery of %s refused: %s", event_id, problem.detail)
                break
            delivered += 1
        return delivered

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.deliver_once()
            except Exception:  # the database, for a moment: the next pass tries again
                logger.exception("simulator redelivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
