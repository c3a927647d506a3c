"""Many live trialing customers: worker and server RSS, and the lateness of reminders that
fall due while the worker holds them all.

Two groups, told apart by the terms they signed up under (the API restarts with another
config in between; each customer keeps its terms): the population, on the default 14-day
trial, created as fast as the API accepts them, whose reminders are days away; then the
probes, created at a steady pace with a reminder due shortly after sign-up, so reminders
fall due at that pace while the population stays live in the worker.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from .common import CUSTOMER_WORKFLOW_PREFIX, log
from .signups import EngineSignups
from .stack import Stack

# The probes' reminder is this long before their trial's end; the end stays after the run.
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
    customers: int  # the live population
    probes: int
    pace: float  # probe sign-ups per second, so their reminders fall due at this rate
    reminder_after: int  # seconds after a probe's sign-up

    @property
    def length(self) -> int:
        return self.reminder_after + REMINDER_BEFORE_END

    @property
    def reminders(self) -> list[str]:
        return [f"{REMINDER_BEFORE_END}s"]

    def describe(self) -> str:
        return (
            f'{self.probes:,} probes at {self.pace:g}/s, trial "{self.length}s" with reminders '
            f'["{REMINDER_BEFORE_END}s"]: each due {self.reminder_after} s after sign-up'
        )


def plan_trial(customers: int, probes: int, pace: float) -> TrialPlan:
    """The probes' reminders start falling due while the last probes are still created (a
    mixed load), a minute after the first sign-up."""
    return TrialPlan(customers, probes, pace, reminder_after=60)


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
    settle_seconds: float  # until every welcome of the population was sent
    api_retries: int
    probes: int
    due_rate: float  # probe reminders falling due per second
    reminders: int
    late_created: list[float]  # outbox row created_at (workflow time) - due
    late_sent: list[float]  # outbox row sent_at - due
    rss_population: dict[str, tuple[int, int, int]]  # process -> (first, max, last) KiB
    rss_probes: dict[str, tuple[int, int, int]]
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


def _rss(stack: Stack, since: float) -> dict[str, tuple[int, int, int]]:
    return {
        name: stats
        for name in ("worker", "temporal", "api")
        if (stats := stack.sampler.stats(name, since)) is not None
    }


async def _create(
    submitter: EngineSignups, count: int, concurrency: int, pace: float, progress: str
) -> float:
    """Create ``count`` customers; returns the seconds it took."""
    since = time.time()
    indexes = iter(range(count))
    created = 0

    async def lane(number: int) -> None:
        nonlocal created
        for index in indexes:
            if pace:
                # Sign-up i starts at i / pace: reminders then fall due at that rate too.
                await asyncio.sleep(max(since + index / pace - time.time(), 0))
            await submitter.submit(number, index)
            created += 1

    async def report() -> None:
        while True:
            await asyncio.sleep(15)
            rate = created / (time.time() - since)
            log(f"{progress}: {created:,}/{count:,} created ({rate:.1f}/s)")

    reporter = asyncio.create_task(report())
    try:
        await asyncio.gather(*(lane(n) for n in range(concurrency)))
    finally:
        reporter.cancel()
    return time.time() - since


async def trialing(
    stack: Stack, dsn: str, tag: str, *, plan: TrialPlan, concurrency: int
) -> TrialingResult:
    connection = await asyncpg.connect(dsn)
    try:
        # The population, on the default terms (the API as started).
        population = f"{tag}-pop"
        since = time.time()
        stack.sampler.sample_now()
        submitter = EngineSignups(stack.api_url, population, concurrency)
        try:
            creation = await _create(submitter, plan.customers, concurrency, 0, "population")
        finally:
            await submitter.close()
        log(f"population: {plan.customers:,} created in {creation:.0f} s; waiting for welcomes")
        while (sent := await _count(connection, "welcome", f"{population}-%")) < plan.customers:
            await asyncio.sleep(2)
            if time.time() - since > creation + 1800:
                log(f"population: giving up with {sent:,} welcomes sent")
                break
        settle = time.time() - since
        stack.sampler.sample_now()
        rss_population = _rss(stack, since)
        worker = rss_population.get("worker")
        log(
            f"population: every welcome sent after {settle:.0f} s"
            + (f"; worker RSS {worker[2] / 1024:.0f} MiB" if worker else "")
        )

        # The probes, on terms whose reminder falls due a minute after sign-up.
        config = stack.config(
            "lifecycle-probes.toml",
            trial={"length": f"{plan.length}s", "reminders": plan.reminders},
        )
        log(f"probes: restarting the API with {config.name}: {plan.describe()}")
        await stack.start_api(config, label="api-probes")
        probes = f"{tag}-probe"
        like = f"{probes}-%"
        probes_since = time.time()
        submitter = EngineSignups(stack.api_url, probes, min(concurrency, 8))
        try:
            await _create(submitter, plan.probes, min(concurrency, 8), plan.pace, "probes")
        finally:
            await submitter.close()
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
        reminders = 0
        next_report = 0.0
        while True:
            reminders = await _count(connection, "trial_reminder", like)
            now = time.time()
            if reminders >= len(started):
                break
            if now > last_due + GRACE_AFTER_LAST_DUE:
                log(f"probes: giving up: {len(started) - reminders} reminders missing")
                break
            if now >= next_report:
                due = sum(1 for s in started if s + plan.reminder_after <= now)
                log(f"probes: {reminders:,} reminders sent, {due:,} due by now")
                next_report = now + 10
            await asyncio.sleep(1.0)
        rows = await connection.fetch(LATENESS, like, plan.reminder_after)
    finally:
        await connection.close()
    stack.sampler.sample_now()
    assert stack.client is not None
    sample = random.Random(7).sample(sorted(signed_up), min(BREAKDOWN_SAMPLE, len(signed_up)))
    breakdown = await timer_breakdown(
        stack.client, {cid: signed_up[cid] + plan.reminder_after for cid in sample}
    )
    return TrialingResult(
        plan=plan,
        created=plan.customers,
        creation_seconds=creation,
        settle_seconds=settle,
        api_retries=submitter.retries,
        probes=len(started),
        due_rate=due_rate,
        reminders=reminders,
        late_created=[float(r[0]) for r in rows],
        late_sent=[float(r[1]) for r in rows if r[1] is not None],
        rss_population=rss_population,
        rss_probes=_rss(stack, probes_since),
        breakdown=breakdown,
    )
