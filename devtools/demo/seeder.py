"""``lifecycle demo seed``: a realistic history, made by the real workflows and the simulator.

Nothing here writes lifecycle rows itself. A private time-skipping Temporal server runs the
real customer workflow with the real worker and activities against the target database,
and the embedded payment simulator follows the server's clock. The seeder plays the app
backend and Stripe:

- it signs customers up the way the API does (a read-model row, then the customer's
  workflow with id ``customer-<id>``), spread over the range;
- it sends the lifecycle commands the personas (``personas.py``) call for, as Temporal
  Updates, as the API would;
- it renews every subscription whose period ended, through the simulator's test clock,
  and feeds the resulting provider events to the workflows through
  ``ingest_payment_event`` (the inbox, the invoice mirror and the signal, like a webhook).

Time moves in steps of a few hours (``Phase``: sign-ups, then commands, then renewals,
each day): the server skips to the next moment anything happens at, firing the workflows'
own timers on the way (trial reminders and expiry, win-back emails, dunning retries,
scheduled changes, automatic resumes) and waiting for the worker to finish what they set
off; then that moment's renewals or commands run, concurrently across customers.

When the server stops at the end, the seeded workflows are gone with it; the database keeps
the history (read model, ledger, invoices, emails, notifications, the simulator's state).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy import func, select
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from adapters.email.log_sender import LogEmailSender
from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator.models import SimSubscription
from api.auth import KeyRing
from api.context import AppContext
from api.lifecycle_client import customer_handle, start_customer_workflow
from api.webhooks.payment_events import ingest_payment_event
from core.settings import Settings
from db.customers import new_trial_customer
from db.engine import SessionFactory, create_engine, is_sqlite, session_factory
from db.migrate import migrate
from db.models import Customer, EmailOutbox, Invoice, LedgerEvent
from devtools.demo.personas import (
    Act,
    CustomerPlan,
    Recovery,
    Step,
    TrialShape,
    external_id_prefix,
    plan_customers,
)
from devtools.demo.server import seed_server
from domain.lifecycle import BillingInterval, Status
from domain.months import add_months
from domain.proration import next_period_end
from workers.tuning import WorkerTuning
from workers.worker import build_worker, terms_loader
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    CommandResult,
    CustomerSnapshot,
    ExtendTrial,
    PauseSubscription,
    PurchaseAddon,
    ReactivateSubscription,
    ResumeSubscription,
    UpdatePaymentMethod,
)

logger = logging.getLogger("lifecycle.demo")

ACTOR = "app:demo-seed"
ADMIN_ACTOR = "admin:demo-seed"
GOOD_CARD = "pm_card_visa"
DECLINED_CARD = "pm_card_chargeDeclined"
FAILING_CARD = "pm_card_chargeCustomerFail"
DAY = timedelta(days=1)
# The history ends this long before the run starts, so that the final settling stays in
# the past too. Settling sleeps an hour past the last day's sign-up moment: long enough for
# the timers at that moment to fire, well before the next moment (see Phase).
END_MARGIN = timedelta(hours=2)
SETTLE = timedelta(hours=1)
_ID_NAMESPACE = uuid.UUID("8d5f3a52-1c1e-4c84-9a57-2f4c0e6c9d11")

Progress = Callable[[str], None]


@dataclass
class SeedReport:
    customers: int
    months: int
    seed: int
    # The seeded range: ask the metrics and the dashboard for [history_start, history_end]
    # (history_end is when the server stopped: nothing happened after it).
    history_start: datetime
    history_end: datetime
    # False when the test server could not start in the past: the range then lies ahead.
    ends_in_the_past: bool
    wall_seconds: float
    commands: int
    renewals: int
    personas: dict[str, int]
    # Lifecycle ledger rows of the seeded customers by kind (audit rows included).
    ledger: dict[str, int]
    statuses: dict[str, int]
    invoices: int
    emails: int
    # Steps a customer could not take (a refused command): empty when all went to plan.
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        width = max((len(k) for k in self.ledger), default=10)
        lines = [
            f"seeded {self.customers} customers over {_months(self.months)} (seed {self.seed}) "
            f"in {self.wall_seconds:.1f}s",
            f"history: {self.history_start.isoformat()} .. {self.history_end.isoformat()}"
            + ("" if self.ends_in_the_past else "  (ahead of the real time)"),
            f"commands: {self.commands}, renewals: {self.renewals}, invoices: {self.invoices}, "
            f"emails: {self.emails}",
            "customers by status: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            "ledger:",
            *(f"  {kind:<{width}}  {count}" for kind, count in sorted(self.ledger.items())),
        ]
        if self.refused:
            lines.append(f"refused steps ({len(self.refused)}):")
            lines += [f"  {r}" for r in self.refused[:20]]
        return "\n".join(lines)


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


def _months(count: int) -> str:
    return f"{count} month" if count == 1 else f"{count} months"


def months_before(moment: datetime, months: int) -> datetime:
    return add_months(moment, -months)


def default_end(now: datetime | None = None) -> datetime:
    """Where a history that ends "now" stops: on the hour, ``END_MARGIN`` before now."""
    moment = (now or datetime.now(UTC)) - END_MARGIN
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class _Customer:
    plan: CustomerPlan
    id: str
    handle: WorkflowHandle[Any, Any]
    # The day the previous step took effect; the next one counts its delay from here.
    cursor: int


class _StepRefused(Exception):
    pass


class _Seeder:
    def __init__(
        self,
        *,
        context: AppContext,
        gateway: SimulatedGateway,
        clock: ServerClock,
        start: datetime,
        seed: int,
        concurrency: int,
    ) -> None:
        self.context = context
        self.sessions: SessionFactory = context.sessions
        self.gateway = gateway
        self.clock = clock
        self.start = start
        self.seed = seed
        self.days = Days()
        self.gate = asyncio.Semaphore(concurrency)
        self.commands = 0
        self.renewals = 0
        self.refused: list[str] = []
        # The simulator's subscriptions of this run's customers (and no one else's).
        self.ours = SimSubscription.customer_id.in_(
            select(Customer.provider_customer_id).where(
                Customer.external_id.like(f"{external_id_prefix(seed)}%")
            )
        )

    # -- days -------------------------------------------------------------------------

    def day_of(self, moment: datetime) -> int:
        return (moment - self.start) // DAY

    async def renew_due(self) -> int:
        """What Stripe does by itself: renew the subscriptions whose period ended (on the
        simulator's test clock), and deliver the events like its webhooks would."""
        async with self.sessions() as session:
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
                    await ingest_payment_event(self.context, event, provider="simulator")

        await asyncio.gather(*(renew(p) for p in due))
        self.renewals += len(due)
        return len(due)

    def time_of(self, slot: int) -> datetime:
        day, phase = divmod(slot, len(Phase))
        return self.start + day * DAY + PHASE_OFFSET[Phase(phase)]

    async def next_renewal_slot(self) -> int | None:
        """The first renewal moment at or after the earliest period end still to renew."""
        async with self.sessions() as session:
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

    # -- customers --------------------------------------------------------------------

    async def script(self, plan: CustomerPlan) -> None:
        await self.days.at(plan.signup_day, Phase.SIGNUP)
        customer = await self.sign_up(plan)
        for index, step in enumerate(plan.steps):
            following = plan.steps[index + 1] if index + 1 < len(plan.steps) else None
            try:
                more = await self.take(customer, step, following)
            except _StepRefused as exc:
                self.refused.append(
                    f"{plan.external_id(self.seed)} ({plan.persona}) day {self.days.today}: "
                    f"{step.describe()}: {exc}"
                )
                return
            if not more:
                return

    async def sign_up(self, plan: CustomerPlan) -> _Customer:
        """What ``POST /v1/customers`` does: the read-model row, then the workflow."""
        now = self.clock.now
        trial = self.context.config.policy.trial
        customer_id = str(uuid.uuid5(_ID_NAMESPACE, f"{self.seed}:{plan.number}"))
        async with self.gate:
            async with self.sessions.begin() as session:
                session.add(
                    new_trial_customer(
                        customer_id=customer_id,
                        external_id=plan.external_id(self.seed),
                        email=plan.email,
                        name=plan.name,
                        trial=trial,
                        signed_up_at=now,
                    )
                )
            await start_customer_workflow(self.context, customer_id=customer_id, signed_up_at=now)
        handle = customer_handle(self.context, customer_id)
        return _Customer(plan, customer_id, handle, cursor=plan.signup_day)

    async def snapshot(self, customer: _Customer) -> CustomerSnapshot:
        async with self.gate:
            return await customer.handle.query(CustomerWorkflow.snapshot)

    async def command(
        self, customer: _Customer, update: Any, argument: Any, *, expect_failure: bool = False
    ) -> CommandResult | CustomerSnapshot:
        async with self.gate:
            self.commands += 1
            try:
                result: CommandResult = await customer.handle.execute_update(update, argument)
            except WorkflowUpdateFailedError as exc:
                if expect_failure:
                    return await customer.handle.query(CustomerWorkflow.snapshot)
                cause = exc.cause
                message = cause.message if isinstance(cause, ApplicationError) else str(exc)
                raise _StepRefused(message) from None
        if expect_failure:
            raise _StepRefused("a command that should have failed went through")
        return result

    async def clear_of_period_end(
        self, customer: _Customer, day: int
    ) -> CommandResult | CustomerSnapshot:
        """Wait until ``day``, moved to the next day when a period ends on it: the command
        then never races the workflow's period-end timer (a cancellation or a scheduled
        change taking effect), and every run takes the same path."""
        while True:
            await self.days.at(day)
            snapshot = await self.snapshot(customer)
            state = snapshot.state
            if state.current_period_end is None or state.status is Status.CANCELED:
                return snapshot
            if day != self.day_of(state.current_period_end):
                return snapshot
            day += 1

    async def take(self, customer: _Customer, step: Step, following: Step | None) -> bool:
        """Carry out one step; False when the customer's story is over."""
        day = customer.cursor + step.after_days
        act = step.act
        if act is Act.CONVERT:
            return await self.convert(customer, step, day)
        if act is Act.EXTEND_TRIAL:
            await self.days.at(day)
            await self.command(
                customer,
                CustomerWorkflow.extend_trial,
                ExtendTrial(days=step.days, reason="demo: asked for more time", actor=ADMIN_ACTOR),
            )
            customer.cursor = day
            return True
        if act is Act.FAIL_RENEWAL:
            return await self.fail_renewal(customer, step, day)
        if act is Act.REACTIVATE:
            return await self.reactivate(customer, day)
        snapshot = await self.clear_of_period_end(customer, day)
        day = self.days.today
        if act is Act.CHANGE_PLAN:
            assert step.plan is not None and step.interval is not None
            result = await self.command(
                customer,
                CustomerWorkflow.change_subscription,
                ChangeSubscription(plan=step.plan, interval=step.interval, actor=ACTOR),
            )
            change = result.state.scheduled_change
            # A downgrade waits for the period end; let it happen before the next step.
            customer.cursor = self.day_of(change.effective_at) + 1 if change else day
        elif act is Act.ADDON:
            assert step.addon is not None
            await self.command(
                customer,
                CustomerWorkflow.purchase_addon,
                PurchaseAddon(addon=step.addon, quantity=step.quantity, actor=ACTOR),
            )
            customer.cursor = day
        elif act is Act.PAUSE:
            await self.pause(customer, step, snapshot, day)
        elif act is Act.CANCEL:
            result = await self.command(
                customer,
                CustomerWorkflow.cancel,
                CancelSubscription(actor=ACTOR, at_period_end=step.at_period_end),
            )
            end = result.state.current_period_end
            reactivating = following is not None and following.act is Act.REACTIVATE
            if step.at_period_end and end is not None and not reactivating:
                customer.cursor = self.day_of(end) + 1
            else:
                customer.cursor = day
        else:  # pragma: no cover - every act is handled above
            raise AssertionError(act)
        return True

    async def convert(self, customer: _Customer, step: Step, day: int) -> bool:
        assert step.plan is not None and step.interval is not None
        await self.days.at(day)
        if step.declined_first:
            await self.command(
                customer,
                CustomerWorkflow.change_subscription,
                ChangeSubscription(
                    plan=step.plan,
                    interval=step.interval,
                    actor=ACTOR,
                    payment_method=DECLINED_CARD,
                ),
                expect_failure=True,
            )
        await self.command(
            customer,
            CustomerWorkflow.change_subscription,
            ChangeSubscription(
                plan=step.plan, interval=step.interval, actor=ACTOR, payment_method=GOOD_CARD
            ),
        )
        customer.cursor = self.days.today
        return True

    async def reactivate(self, customer: _Customer, day: int) -> bool:
        """Withdraw a cancellation before the period ends (on the last day before, at the
        latest)."""
        snapshot = await self.snapshot(customer)
        end = snapshot.state.current_period_end
        if end is not None:
            day = min(day, self.day_of(end) - 1)
        await self.days.at(max(day, customer.cursor))
        await self.command(
            customer, CustomerWorkflow.reactivate, ReactivateSubscription(actor=ACTOR)
        )
        customer.cursor = self.days.today
        return True

    async def pause(
        self, customer: _Customer, step: Step, snapshot: CommandResult | CustomerSnapshot, day: int
    ) -> None:
        state = snapshot.state
        pause_days = step.pause_days
        if state.subscription_id is not None and state.interval is not None:
            # Resume clear of a renewal, so the renewal's invoice is voided or charged the
            # same way in every run.
            ends = await self.period_end_days(state.subscription_id, state.interval, count=4)
            while any(abs(day + pause_days - end) <= 1 for end in ends):
                pause_days += 3
        if step.manual_resume:
            await self.command(customer, CustomerWorkflow.pause, PauseSubscription(actor=ACTOR))
            await self.days.at(day + pause_days)
            await self.command(customer, CustomerWorkflow.resume, ResumeSubscription(actor=ACTOR))
        else:
            resumes_at = self.clock.now + pause_days * DAY
            await self.command(
                customer,
                CustomerWorkflow.pause,
                PauseSubscription(actor=ACTOR, resumes_at=resumes_at),
            )
        customer.cursor = day + pause_days + 1

    async def period_end_days(
        self, subscription_id: str, interval: BillingInterval, *, count: int
    ) -> list[int]:
        """The days of the subscription's next ``count`` period ends, from its billing
        cycle anchor at the provider (the simulator)."""
        async with self.sessions() as session:
            sub = await session.get(SimSubscription, subscription_id)
        if sub is None:
            return []
        ends = [sub.current_period_end]
        while len(ends) < count:
            ends.append(next_period_end(sub.billing_cycle_anchor, interval, ends[-1]))
        return [self.day_of(end) for end in ends]

    async def fail_renewal(self, customer: _Customer, step: Step, day: int) -> bool:
        """The card starts failing the day before a renewal: the renewal fails and dunning
        runs; the customer recovers (a new card, or a fixed card the next retry charges) or
        dunning is exhausted and the subscription canceled.

        The renewal happens on the day the period ends (at its RENEW moment), so dunning's
        retries fall on RENEW moments 1, 3, 5 and 7 days later; the customer acts (ACT) in
        between."""
        while True:
            await self.days.at(day)
            snapshot = await self.snapshot(customer)
            state = snapshot.state
            if state.status is not Status.ACTIVE or state.current_period_end is None:
                raise _StepRefused(f"not active ({state.status.value})")
            end_day = self.day_of(state.current_period_end)
            if day <= end_day - 1:
                break
            day = end_day + 1
        await self.days.at(end_day - 1)
        await self.command(
            customer,
            CustomerWorkflow.update_payment_method,
            UpdatePaymentMethod(actor=ACTOR, payment_method=FAILING_CARD),
        )
        await self.days.at(end_day + 1)
        state = (await self.snapshot(customer)).state
        if state.status is not Status.PAST_DUE or state.provider_customer_id is None:
            raise _StepRefused(f"the renewal did not fail ({state.status.value})")
        if step.recovery is None:
            # Dunning runs its course: the last retry fails a week after the renewal.
            customer.cursor = end_day + 8
            return False
        # After the first retry failed, before the second.
        await self.days.at(end_day + 2)
        if step.recovery is Recovery.NEW_CARD:
            await self.command(
                customer,
                CustomerWorkflow.update_payment_method,
                UpdatePaymentMethod(actor=ACTOR, payment_method=GOOD_CARD),
            )
            customer.cursor = end_day + 2
        else:
            # Fixed at the provider (the hosted page, the portal); the engine learns at its
            # next retry.
            async with self.gate:
                await self.gateway.attach_payment_method(
                    state.provider_customer_id,
                    GOOD_CARD,
                    idempotency_key=f"demo-fix:{customer.id}:{end_day}",
                    subscription_id=state.subscription_id,
                )
            customer.cursor = end_day + 4
        return True


async def seed(
    settings: Settings,
    *,
    customers: int,
    months: int,
    seed: int = 0,
    progress: Progress | None = None,
    end_at: datetime | None = None,
    ahead: bool = False,
    concurrency: int | None = None,
) -> SeedReport:
    """Seed ``customers`` customers over ``months`` months into ``settings.database_url``.

    The history ends at ``end_at`` (default: two hours before now, on the hour), or, with
    ``ahead``, starts now and lies ahead of the real time. ``concurrency`` bounds the
    commands, renewals and activities in flight at once (default: 32 on PostgreSQL; on
    SQLite, which has a single writer, 4).
    """
    if customers < 1 or months < 1:
        raise ValueError("customers and months must be at least 1")
    say = progress or (lambda message: None)
    started = time.monotonic()
    config = settings.engine_config
    await migrate(settings.database_url)
    sqlite = is_sqlite(settings.database_url)
    if concurrency is None:
        concurrency = 4 if sqlite else 32
    engine = create_engine(settings.database_url, pool_size=max(10, concurrency // 2))
    sessions = session_factory(engine)
    # Thousands of emails, and the declines dunning is made of, are the point here.
    quiet = {"lifecycle.email": logging.WARNING, "temporalio.activity": logging.ERROR}
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(max(level, logging.getLogger(name).level))
    try:
        prefix = external_id_prefix(seed)
        async with sessions() as session:
            taken = await session.scalar(
                select(func.count())
                .select_from(Customer)
                .where(Customer.external_id.like(f"{prefix}%"))
            )
        if taken:
            raise ValueError(
                f"this database already holds a demo history with seed {seed} "
                f"({taken} customers); use a fresh database or another --seed"
            )
        if ahead:
            start_at: datetime | None = None
        else:
            end = end_at or default_end()
            start_at = months_before(end, months)
        async with seed_server(settings.lifecycle_tools_cache, start_at=start_at) as server:
            env = server.env
            now = await env.get_current_time()
            start = start_at if server.time_travel and start_at is not None else now
            end = add_months(start, months)
            total_days = (end - start) // DAY
            clock = ServerClock(now)
            gateway = SimulatedGateway(
                sessions, config.catalog, base_url=settings.public_base_url, clock=clock
            )
            context = AppContext(
                settings=settings,
                config=config,
                sessions=sessions,
                temporal=env.client,
                keys=KeyRing(app_keys=(), admin_keys=()),
                payments=gateway,
            )
            worker = build_worker(
                env.client,
                task_queue=settings.temporal_task_queue,
                sessions=sessions,
                sender=LogEmailSender(),
                gateway=gateway,
                product_name=config.product_name,
                app_url=config.app_url,
                load_terms=terms_loader(settings),
                tuning=WorkerTuning(max_concurrent_activities=concurrency),
            )
            plans = plan_customers(customers, total_days, seed, TrialShape.of(config.policy.trial))
            say(
                f"seeding {customers} customers over {_months(months)} ({total_days} days): "
                f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"
                + ("" if server.time_travel else " (ahead of the real time)")
            )
            seeder = _Seeder(
                context=context,
                gateway=gateway,
                clock=clock,
                start=start,
                seed=seed,
                concurrency=concurrency,
            )
            async with worker:
                try:
                    await _run_days(env, seeder, plans, total_days, say, started)
                    # Let the last moment's work finish (see SETTLE).
                    await env.sleep(SETTLE)
                finally:
                    await seeder.days.close()
            if seeder.days.errors:
                raise RuntimeError(
                    f"{len(seeder.days.errors)} customer scripts failed; first: "
                    f"{seeder.days.errors[0]}"
                )
            report = await _report(
                sessions,
                prefix=prefix,
                customers=customers,
                months=months,
                seed=seed,
                start=start,
                end=end + SETTLE,
                time_travel=server.time_travel,
                seeder=seeder,
                plans=plans,
                wall=time.monotonic() - started,
            )
        say(report.summary())
        return report
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        await engine.dispose()


async def _run_days(
    env: WorkflowEnvironment,
    seeder: _Seeder,
    plans: list[CustomerPlan],
    total_days: int,
    say: Progress,
    started: float,
) -> None:
    """Moment by moment until the last day's sign-up moment: the server skips to the next
    moment anything happens at (firing the workflows' timers on the way, and waiting for
    the worker to finish what they set off), then the renewals due and the scripts parked
    for that moment run."""
    for plan in plans:
        seeder.days.spawn(plan.external_id(seeder.seed), seeder.script(plan))
    await seeder.days.advance(0)
    last = slot_of(total_days, Phase.SIGNUP)
    reported_month = 0
    slot = 0
    while slot < last:
        candidates = [last]
        if (parked := seeder.days.next_slot) is not None:
            candidates.append(parked)
        if (renewal := await seeder.next_renewal_slot()) is not None:
            candidates.append(renewal)
        slot = max(min(candidates), slot + 1)
        remaining = seeder.time_of(slot) - await env.get_current_time()
        if remaining > timedelta(0):
            await env.sleep(remaining)
        seeder.clock.now = await env.get_current_time()
        if slot % len(Phase) == Phase.RENEW:
            await seeder.renew_due()
        await seeder.days.advance(slot)
        day = slot // len(Phase)
        month = day * 12 // 365
        if month != reported_month or slot >= last:
            reported_month = month
            say(
                f"  day {day:>4}/{total_days} ({seeder.clock.now:%Y-%m-%d}): "
                f"{seeder.commands} commands, {seeder.renewals} renewals, "
                f"{time.monotonic() - started:.0f}s"
            )


async def _report(
    sessions: SessionFactory,
    *,
    prefix: str,
    customers: int,
    months: int,
    seed: int,
    start: datetime,
    end: datetime,
    time_travel: bool,
    seeder: _Seeder,
    plans: list[CustomerPlan],
    wall: float,
) -> SeedReport:
    ours = select(Customer.id).where(Customer.external_id.like(f"{prefix}%")).scalar_subquery()
    async with sessions() as session:
        ledger: dict[str, int] = {
            kind: count
            for kind, count in await session.execute(
                select(LedgerEvent.kind, func.count())
                .where(LedgerEvent.customer_id.in_(ours))
                .group_by(LedgerEvent.kind)
            )
        }
        statuses: dict[str, int] = {
            status: count
            for status, count in await session.execute(
                select(Customer.status, func.count())
                .where(Customer.external_id.like(f"{prefix}%"))
                .group_by(Customer.status)
            )
        }
        invoices = await session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.customer_id.in_(ours))
        )
        emails = await session.scalar(
            select(func.count()).select_from(EmailOutbox).where(EmailOutbox.customer_id.in_(ours))
        )
    return SeedReport(
        customers=customers,
        months=months,
        seed=seed,
        history_start=start,
        history_end=end,
        ends_in_the_past=time_travel,
        wall_seconds=wall,
        commands=seeder.commands,
        renewals=seeder.renewals,
        personas=dict(Counter(p.persona.split("/")[0] for p in plans)),
        ledger=ledger,
        statuses=statuses,
        invoices=invoices or 0,
        emails=emails or 0,
        refused=sorted(seeder.refused),
    )
