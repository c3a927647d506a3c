"""``lifecycle demo seed``: a realistic history, made by the real workflows and the simulator.

Nothing here writes lifecycle rows itself. A private time-skipping Temporal server runs the
real customer workflow with the real worker and activities against the target database,
and the embedded payment simulator follows the server's clock. The seeder plays the app
backend and Stripe:

- it signs customers up the way the API does (a read-model row, then the customer's
  workflow with id ``customer-<id>``, started by ``services.customer_workflows``), spread
  over the range;
- it sends the lifecycle commands the personas (``personas.py``) call for, as Temporal
  Updates, as the API would (``acts.py``);
- it renews every subscription whose period ended, through the simulator's test clock,
  and feeds the resulting provider events to the workflows through
  ``services.payment_events`` (the inbox, the invoice mirror and the signal, like a
  webhook);
- at the end, it writes the customers' usage as their app backend would have reported it
  (``usage.py``: a behaviour model in which voluntary leavers use less before leaving).

Time moves in steps of a few hours (``clock.Phase``: sign-ups, then commands, then renewals,
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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from adapters.email.log_sender import LogEmailSender
from adapters.payments.simulator import SimulatedGateway
from core.config import EngineConfig
from core.settings import Settings
from db.engine import SessionFactory, create_engine, is_sqlite, session_factory
from db.migrate import migrate
from db.models import Customer, EmailOutbox, Invoice, LedgerEvent
from devtools.demo.acts import Acts
from devtools.demo.campaign import send_demo_campaign
from devtools.demo.clock import DAY, SETTLE, Phase, ServerClock, default_end, months_before, slot_of
from devtools.demo.personas import CustomerPlan, TrialShape, external_id_prefix, plan_customers
from devtools.demo.server import seed_server
from devtools.demo.usage import seed_usage
from devtools.demo.world import World
from domain.experiments.model import ExperimentState
from domain.months import add_months
from services.context import EngineContext
from services.experiments import start as start_experiment
from services.experiments import statuses as experiment_statuses
from workers.tuning import WorkerTuning
from workers.worker import build_worker, terms_loader

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
    # Daily usage rows written (per customer, metric and day).
    usage_days: int = 0

    def summary(self) -> str:
        width = max((len(k) for k in self.ledger), default=10)
        lines = [
            f"seeded {self.customers} customers over {_months(self.months)} (seed {self.seed}) "
            f"in {self.wall_seconds:.1f}s",
            f"history: {self.history_start.isoformat()} .. {self.history_end.isoformat()}"
            + ("" if self.ends_in_the_past else "  (ahead of the real time)"),
            f"commands: {self.commands}, renewals: {self.renewals}, invoices: {self.invoices}, "
            f"emails: {self.emails}, daily usage rows: {self.usage_days}",
            "customers by status: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            "ledger:",
            *(f"  {kind:<{width}}  {count}" for kind, count in sorted(self.ledger.items())),
        ]
        if self.refused:
            lines.append(f"refused steps ({len(self.refused)}):")
            lines += [f"  {r}" for r in self.refused[:20]]
        return "\n".join(lines)


async def _start_experiment(
    config: EngineConfig, sessions: SessionFactory, at: datetime
) -> str | None:
    """The config's first draft experiment, started as an operator would, so the demo's
    sign-ups are split between its variants; nothing when one already runs."""
    found = await experiment_statuses(config, sessions)
    if any(s.state is ExperimentState.RUNNING for s in found):
        return None
    draft = next((s for s in found if s.state is ExperimentState.DRAFT), None)
    if draft is None:
        return None
    await start_experiment(config, sessions, draft.experiment.id, "admin:demo-seed", at)
    return draft.experiment.id


def _months(count: int) -> str:
    return f"{count} month" if count == 1 else f"{count} months"


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
            engine_context = EngineContext(
                config=config,
                sessions=sessions,
                temporal=env.client,
                task_queue=settings.temporal_task_queue,
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
                save_flow=config.save_flow,
            )
            experiment = await _start_experiment(config, sessions, start)
            if experiment is not None:
                say(
                    f"experiment {experiment} started: new customers are split between its variants"
                )
            plans = plan_customers(customers, total_days, seed, TrialShape.of(config.policy.trial))
            say(
                f"seeding {customers} customers over {_months(months)} ({total_days} days): "
                f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"
                + ("" if server.time_travel else " (ahead of the real time)")
            )
            world = World(
                engine=engine_context,
                gateway=gateway,
                clock=clock,
                start=start,
                seed=seed,
                gate=asyncio.Semaphore(concurrency),
            )
            async with worker:
                try:
                    await _run_days(env, world, Acts(world), plans, total_days, say, started)
                    sent = await send_demo_campaign(world, await env.get_current_time())
                    if sent is not None:
                        say(f"campaign to expired trials: {sent.handled} offer(s) sent")
                    # Let the last moment's work finish (see SETTLE).
                    await env.sleep(SETTLE)
                finally:
                    await world.days.close()
            if world.days.errors:
                raise RuntimeError(
                    f"{len(world.days.errors)} customer scripts failed; first: "
                    f"{world.days.errors[0]}"
                )
            say("writing the customers' usage")
            usage_days = await seed_usage(
                sessions, config.catalog, prefix=prefix, seed=seed, end=end + SETTLE
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
                world=world,
                plans=plans,
                wall=time.monotonic() - started,
            )
            report.usage_days = usage_days
        say(report.summary())
        return report
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        await engine.dispose()


async def _run_days(
    env: WorkflowEnvironment,
    world: World,
    acts: Acts,
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
        world.days.spawn(plan.external_id(world.seed), acts.script(plan))
    await world.days.advance(0)
    last = slot_of(total_days, Phase.SIGNUP)
    reported_month = 0
    slot = 0
    while slot < last:
        candidates = [last]
        if (parked := world.days.next_slot) is not None:
            candidates.append(parked)
        if (renewal := await world.next_renewal_slot()) is not None:
            candidates.append(renewal)
        slot = max(min(candidates), slot + 1)
        remaining = world.time_of(slot) - await env.get_current_time()
        if remaining > timedelta(0):
            await env.sleep(remaining)
        world.clock.now = await env.get_current_time()
        if slot % len(Phase) == Phase.RENEW:
            await world.renew_due()
        await world.days.advance(slot)
        day = slot // len(Phase)
        month = day * 12 // 365
        if month != reported_month or slot >= last:
            reported_month = month
            say(
                f"  day {day:>4}/{total_days} ({world.clock.now:%Y-%m-%d}): "
                f"{world.commands} commands, {world.renewals} renewals, "
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
    world: World,
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
        commands=world.commands,
        renewals=world.renewals,
        personas=dict(Counter(p.persona.split("/")[0] for p in plans)),
        ledger=ledger,
        statuses=statuses,
        invoices=invoices or 0,
        emails=emails or 0,
        refused=sorted(world.refused),
    )
