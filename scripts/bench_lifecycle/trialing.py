"""Many trialing customers, one reminder each: worker and server RSS, reminder lateness."""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from .common import CUSTOMER_WORKFLOW_PREFIX, log
from .signups import EngineSignups
from .stack import Stack

# The reminder is this long before the trial's end; the end (and its trial_expired email)
# stays well after the run.
REMINDER_BEFORE_END = 3600
# How long after the last reminder was due the benchmark waits for stragglers.
GRACE_AFTER_LAST_DUE = 300.0
# Histories read to break the lateness down.
BREAKDOWN_SAMPLE = 300

LATENESS = """
SELECT extract(epoch FROM o.created_at - (c.trial_started_at + make_interval(secs => $2))),
       extract(epoch FROM o.sent_at - (c.trial_started_at + make_interval(secs => $2)))
FROM email_outbox o JOIN customers c ON c.id = o.customer_id
WHERE o.template = 'trial_reminder' AND c.external_id LIKE $1
"""


@dataclass(frozen=True)
class TrialPlan:
    customers: int
    estimated_rate: float
    rate_source: str
    reminder_after: int  # seconds after sign-up
    length: int  # seconds

    @property
    def reminders(self) -> list[str]:
        return [f"{REMINDER_BEFORE_END}s"]

    pace: float  # sign-ups per second the creation is held to; 0 = as fast as accepted

    def describe(self) -> str:
        paced = f", creation paced at {self.pace:g}/s" if self.pace else ""
        return (
            f'trial length "{self.length}s", reminders ["{REMINDER_BEFORE_END}s"] before the '
            f"end = due {self.reminder_after} s after sign-up (creation with welcomes sent "
            f"estimated at {self.customers / self.estimated_rate:.0f} s from "
            f"{self.estimated_rate:.1f}/s, {self.rate_source}{paced}; 1.5 x that + 30 s)"
        )


def plan_trial(customers: int, rate: float, source: str, pace: float = 0) -> TrialPlan:
    """Due late enough that every customer exists and its welcome is out before the first
    reminder: 1.5 x the estimated time for that plus 30 s. ``rate``: sign-ups per second end
    to end (welcome sent); ``pace``: the creation's own limit, if any."""
    if pace:
        rate = min(rate, pace)
    after = math.ceil(customers / rate * 1.5 + 30)
    return TrialPlan(customers, rate, source, after, after + REMINDER_BEFORE_END, pace)


@dataclass
class TimerBreakdown:
    """Where a reminder's lateness comes from, read from the workflow histories: the due
    time, the reminder timer (started at some event time with some duration), its firing, and
    the workflow task that ran the reminder (its start is the workflow time the email row
    carries as ``created_at``)."""

    histories: int = 0
    # timer start event time + duration - due: the timer was set up to fire this late
    planned: list[float] = field(default_factory=list)
    # timer fired event time - (timer start event time + duration): the server's precision
    fired: list[float] = field(default_factory=list)
    # workflow task started after the timer fired - the timer fired event time
    picked_up: list[float] = field(default_factory=list)


async def timer_breakdown(
    client: Client, due: dict[str, float], parallel: int = 16
) -> TimerBreakdown:
    result = TimerBreakdown()
    queue = iter(due.items())

    async def one() -> None:
        for cid, due_at in queue:
            history = await client.get_workflow_handle(
                CUSTOMER_WORKFLOW_PREFIX + cid
            ).fetch_history()
            result.histories += 1
            timers: dict[int, tuple[float, float]] = {}
            fired_at: float | None = None
            for event in history.events:
                at = event.event_time.ToDatetime().timestamp()
                if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                    timeout = event.timer_started_event_attributes.start_to_fire_timeout
                    timers[event.event_id] = (at, timeout.ToTimedelta().total_seconds())
                elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED and fired_at is None:
                    started = event.timer_fired_event_attributes.started_event_id
                    if started not in timers:
                        continue
                    set_at, seconds = timers[started]
                    result.planned.append(set_at + seconds - due_at)
                    result.fired.append(at - (set_at + seconds))
                    fired_at = at
                elif (
                    event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
                    and fired_at is not None
                ):
                    result.picked_up.append(at - fired_at)
                    break

    await asyncio.gather(*(one() for _ in range(parallel)))
    return result


@dataclass
class TrialingResult:
    plan: TrialPlan
    created: int
    creation_seconds: float
    api_retries: int
    creation_overran_first_due: float  # > 0: seconds the creation ran past the first due time
    due_rate: float  # reminders falling due per second (the creation rate)
    reminders: int
    late_created: list[float]  # outbox row created_at (workflow time) - due
    late_sent: list[float]  # outbox row sent_at - due
    rss: dict[str, tuple[int, int, int]]  # process -> (first, max, last) KiB
    wait_seconds: float
    breakdown: TimerBreakdown


async def _count(connection: asyncpg.Connection, template: str, like: str) -> int:
    return int(
        await connection.fetchval(
            "SELECT count(*) FROM email_outbox o JOIN customers c ON c.id = o.customer_id"
            " WHERE o.template = $1 AND o.status = 'sent' AND c.external_id LIKE $2",
            template,
            like,
        )
    )


async def trialing(
    stack: Stack, dsn: str, tag: str, *, plan: TrialPlan, concurrency: int
) -> TrialingResult:
    config = stack.config(
        "lifecycle-trialing.toml",
        trial={"length": f"{plan.length}s", "reminders": plan.reminders},
    )
    log(f"customers: restarting the API with {config.name}: {plan.describe()}")
    await stack.start_api(config, label="api-trialing")
    prefix = f"{tag}-tr"
    like = f"{prefix}-%"
    since = time.time()
    stack.sampler.sample_now()
    submitter = EngineSignups(stack.api_url, prefix, concurrency)
    connection = await asyncpg.connect(dsn)
    indexes = iter(range(plan.customers))
    created = 0

    async def lane(number: int) -> None:
        nonlocal created
        for index in indexes:
            if plan.pace:
                # Sign-up i starts at i / pace: reminders then fall due at that rate too.
                await asyncio.sleep(max(since + index / plan.pace - time.time(), 0))
            await submitter.submit(number, index)
            created += 1

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            welcomes = await _count(connection, "welcome", like)
            elapsed = time.time() - since
            log(
                f"customers: {created:,}/{plan.customers:,} created ({created / elapsed:.1f}/s), "
                f"{welcomes:,} welcomes sent"
            )

    try:
        reporter = asyncio.create_task(progress())
        try:
            await asyncio.gather(*(lane(n) for n in range(concurrency)))
        finally:
            reporter.cancel()
            await submitter.close()
        creation_end = time.time()
        log(f"customers: {created:,} created in {creation_end - since:.0f} s")
        signed_up = {
            str(row[0]): row[1].timestamp()
            for row in await connection.fetch(
                "SELECT id, trial_started_at FROM customers WHERE external_id LIKE $1", like
            )
        }
        started = list(signed_up.values())
        first_due = min(started) + plan.reminder_after
        last_due = max(started) + plan.reminder_after
        due_rate = len(started) / max(last_due - first_due, 1e-3)
        overran = creation_end - first_due
        if overran > 0:
            log(f"customers: WARNING creation ran {overran:.0f} s past the first reminder due")
        log(
            f"customers: reminders due from +{first_due - time.time():.0f} s to "
            f"+{last_due - time.time():.0f} s from now"
        )
        wait_start = time.time()
        reminders = 0
        next_report = 0.0
        while True:
            reminders = await _count(connection, "trial_reminder", like)
            now = time.time()
            if reminders >= created:
                break
            if now > last_due + GRACE_AFTER_LAST_DUE:
                log(f"customers: giving up: {created - reminders} reminders missing")
                break
            if now >= next_report:
                due = sum(1 for s in started if s + plan.reminder_after <= now)
                worker = stack.sampler.stats("worker", since)
                memory = f", worker RSS {worker[2] / 1024:.0f} MiB" if worker else ""
                log(f"customers: {reminders:,} reminders sent, {due:,} due by now{memory}")
                next_report = now + (10 if now >= first_due - 10 else 30)
            await asyncio.sleep(1.0)
        rows = await connection.fetch(LATENESS, like, plan.reminder_after)
    finally:
        await connection.close()
    stack.sampler.sample_now()
    assert stack.client is not None
    sample = random.Random(7).sample(sorted(signed_up), min(BREAKDOWN_SAMPLE, len(signed_up)))
    log(f"customers: reading {len(sample)} histories for the lateness breakdown")
    breakdown = await timer_breakdown(
        stack.client, {cid: signed_up[cid] + plan.reminder_after for cid in sample}
    )
    rss = {
        name: stats
        for name in ("worker", "temporal", "api")
        if (stats := stack.sampler.stats(name, since)) is not None
    }
    return TrialingResult(
        plan=plan,
        created=created,
        creation_seconds=creation_end - since,
        api_retries=submitter.retries,
        creation_overran_first_due=overran,
        due_rate=due_rate,
        reminders=reminders,
        late_created=[float(r[0]) for r in rows],
        late_sent=[float(r[1]) for r in rows if r[1] is not None],
        rss=rss,
        wait_seconds=time.time() - wait_start,
        breakdown=breakdown,
    )
