"""The seeded time: the server's clock the simulator follows, the three moments of a day
(``Phase``), and the barrier (``Days``) that moves the customer scripts from one moment to
the next."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from temporalio import activity

from domain.months import add_months

logger = logging.getLogger("lifecycle.demo")

DAY = timedelta(days=1)
# The history ends this long before the run starts, so that the final settling stays in
# the past too. Settling sleeps an hour past the last day's sign-up moment: long enough for
# the timers at that moment to fire, well before the next moment (see Phase).
END_MARGIN = timedelta(hours=2)
SETTLE = timedelta(hours=1)


class ServerClock:
    """The simulator's clock: the Temporal server's (skipped) time. Inside an activity, the
    moment the activity was scheduled; elsewhere, the seeder's current day."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        if activity.in_activity():
            return activity.info().current_attempt_scheduled_time
        return self.now


class Phase(IntEnum):
    """Each day has three moments, hours apart, so that what happens at one never races
    what happens at another. Every timer a workflow sets is a whole number of days (or
    months) after the moment that set it, so it falls on the same moment of a later day."""

    # Customers sign up; their trial timers (reminders, expiry, win-backs) fall here.
    SIGNUP = 0
    # The customers' commands; their period ends, pauses and extensions fall here.
    ACT = 1
    # The provider renews what ended that day (at ACT); dunning retries fall here.
    RENEW = 2


PHASE_OFFSET = {
    Phase.SIGNUP: timedelta(0),
    Phase.ACT: timedelta(hours=6),
    Phase.RENEW: timedelta(hours=12),
}


def slot_of(day: int, phase: Phase) -> int:
    return day * len(Phase) + phase


class Days:
    """A barrier for the customer scripts, moment by moment (a day's phases in turn).

    ``at(day, phase)`` parks a script until the seeder reaches that moment; ``advance(slot)``
    wakes the scripts parked for it and returns once every running script is parked again
    or done.
    """

    def __init__(self) -> None:
        self.slot = 0
        self._parked: dict[int, list[asyncio.Future[None]]] = defaultdict(list)
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []

    @property
    def today(self) -> int:
        return self.slot // len(Phase)

    def spawn(self, name: str, script: Coroutine[Any, Any, None]) -> None:
        self._busy += 1
        self._idle.clear()
        task = asyncio.create_task(self._guard(name, script))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, name: str, script: Coroutine[Any, Any, None]) -> None:
        try:
            await script
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("customer script %s failed", name)
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        finally:
            self._done()

    def _done(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def at(self, day: int, phase: Phase = Phase.ACT) -> None:
        slot = slot_of(day, phase)
        if slot <= self.slot:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._parked[slot].append(future)
        self._done()
        await future

    @property
    def next_slot(self) -> int | None:
        return min(self._parked) if self._parked else None

    async def advance(self, slot: int) -> None:
        self.slot = slot
        for future in self._parked.pop(slot, []):
            self._busy += 1
            self._idle.clear()
            future.set_result(None)
        await self._idle.wait()

    async def close(self) -> None:
        """Drop the scripts still waiting for moments past the range."""
        self._parked.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def months_before(moment: datetime, months: int) -> datetime:
    return add_months(moment, -months)


def default_end(now: datetime | None = None) -> datetime:
    """Where a history that ends "now" stops: on the hour, ``END_MARGIN`` before now."""
    moment = (now or datetime.now(UTC)) - END_MARGIN
    return moment.replace(minute=0, second=0, microsecond=0)
