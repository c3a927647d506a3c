"""Usage metering storage: events, counters, daily totals, threshold crossings, overrides.

The two hot flows own their transaction: :func:`ingest_batch` (``POST /v1/usage``) and
:func:`check_and_consume`. On PostgreSQL they talk to asyncpg directly (through a pool of
their own, see :func:`hot_connection_pool`): one read, then one write statement, each its
own implicit transaction (arrays through ``unnest``; stable SQL, so asyncpg reuses its
prepared statements) with no ORM or result processing in between. On SQLite (the embedded
default) the same steps run through SQLAlchemy. The other helpers run inside the caller's
session and never commit.

Lock order, so concurrent requests cannot deadlock: events (by customer and key), then
counters (by customer, metric, period), then daily totals (by customer, metric, day), then
threshold crossings. The one exception is PostgreSQL's check-and-consume, which raises its
counter before inserting its event (so a refused call writes nothing): it can wait for an
event key only when another writer has the very same key in flight, and the deadlock that
an ingest of that key could then cause is detected by PostgreSQL and retried.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from sqlalchemy import bindparam, delete, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import SessionFactory
from db.models import (
    LimitOverride,
    UsageCounter,
    UsageDaily,
    UsageEvent,
    UsageThresholdCrossing,
)
from db.types import UTCDateTime
from domain.catalog import METRICS, Catalog
from domain.limits import (
    COUNTERS,
    GAUGE_PERIOD_START,
    GAUGES,
    THRESHOLDS,
    CounterRecord,
    HeldAddon,
    Period,
    Subscriber,
    crossed_thresholds,
    effective_limits,
    enters_grace,
    usage_period,
)

# Counter rows loaded per customer for forecasts and the grace history: a few periods.
_HISTORY_ROWS = 4 * len(COUNTERS)
# SQLite's default maximum of bound variables per statement (3.32+: 32766).
_SQLITE_MAX_VARIABLES = 32_000


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _utc(value: datetime | str | None) -> datetime | None:
    """A timestamp out of a JSON aggregate (PostgreSQL: ISO with offset; SQLite: naive
    UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- the hot paths' connections ----------------------------------------------------------

# The hot paths' own asyncpg pool, per engine (same URL and options). Through the engine's
# pool each call paid SQLAlchemy's checkout and checkin (greenlet switches, a rollback on
# return) and, with more concurrent callers than pool_size, overflow connections were closed
# on checkin and reopened (TLS handshake, authentication): in a profile of 32 concurrent
# check-and-consume callers about one request in nine opened a connection. asyncpg's pool
# keeps its connections and queues callers instead.
# Small on purpose: the statements are short, so more connections only move the queue from
# this pool (cheap) into PostgreSQL, where busy backends preempt each other and, on one hot
# counter, a preempted lock holder stalls every waiter. 32 concurrent consumes at the store
# on 2 cores: 4 connections 1,050-1,460 calls/s, p99 73-89 ms; 10 connections 680-770
# calls/s, p99 195-220 ms.
_HOT_POOL_SIZE = 4
_hot_pools: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Task[asyncpg.Pool]] = (
    weakref.WeakKeyDictionary()
)


def _connect_kwargs(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg's arguments for the engine's URL, as SQLAlchemy's dialect reads it (host,
    socket, ``ssl`` and the like), without the options only its adaptor knows."""
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    cache_size = kwargs.pop("prepared_statement_cache_size", None)
    if cache_size is not None:
        kwargs["statement_cache_size"] = cache_size
    kwargs.pop("prepared_statement_name_func", None)
    return dict(kwargs)


async def _keep_session(_connection: asyncpg.Connection) -> None:
    return None


async def _create_hot_pool(engine: AsyncEngine) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        min_size=1,
        max_size=_HOT_POOL_SIZE,
        # Idle connections go, as the engine's are recycled (see db.engine).
        max_inactive_connection_lifetime=300,
        # The hot paths leave no session state (no SET, LISTEN or advisory lock), so the
        # default reset (a round trip per release) has nothing to undo; an open
        # transaction is still rolled back by asyncpg before this runs.
        reset=_keep_session,
        **_connect_kwargs(engine),
    )

    def dispose(_engine: Any) -> None:
        # The engine is being disposed (shutdown, tests): its pool goes with it.
        _hot_pools.pop(engine, None)
        pool.terminate()

    event.listen(engine.sync_engine, "engine_disposed", dispose)
    return pool


async def hot_connection_pool(engine: AsyncEngine) -> asyncpg.Pool:
    """The engine's hot-path pool, created on first use (one creation even when many
    requests arrive at once)."""
    task = _hot_pools.get(engine)
    if task is None or (task.done() and task.exception() is not None):
        task = _hot_pools[engine] = asyncio.ensure_future(_create_hot_pool(engine))
    return await asyncio.shield(task)


# -- a customer's usage context ---------------------------------------------------------


@dataclass
class UsageContext:
    """What limits depend on, for one customer, read in one query."""

    customer_id: str
    subscriber: Subscriber
    addons: list[HeldAddon]
    overrides: dict[str, int | None]
    # A threshold crossing whose workflow signal has not gone out yet.
    pending_signals: bool
    # Recent counters (current and past periods, gauges), when asked for.
    counters: list[CounterRecord] = field(default_factory=list)

    def period(self, now: datetime) -> Period:
        return usage_period(self.subscriber, now)

    def limits(self, catalog: Catalog, period: Period) -> dict[str, int | None]:
        return effective_limits(catalog, self.subscriber, self.addons, self.overrides, period)

    def used_in(self, period: Period) -> dict[str, int]:
        used = dict.fromkeys(METRICS, 0)
        for record in self.counters:
            if record.metric in GAUGES or record.period_start == period.start:
                used[record.metric] = record.used
        return used


_GAUGE_LIST = ", ".join(f"'{g}'" for g in sorted(GAUGES))

_PG_CONTEXT = """
SELECT c.id, c.status, c.plan, c.interval, c.trial_started_at, c.trial_ends_at,
       c.current_period_start, c.current_period_end,
       (SELECT json_agg(json_build_array(o.metric, o.value))
          FROM limit_overrides o WHERE o.customer_id = c.id) AS overrides,
       (SELECT json_agg(json_build_array(a.addon, a.kind, a.quantity, a.active, a.period_start))
          FROM customer_addons a WHERE a.customer_id = c.id) AS addons,
       EXISTS (SELECT 1 FROM usage_threshold_crossings x
                WHERE x.customer_id = c.id AND x.signalled_at IS NULL) AS pending
       {counters}
FROM customers c
WHERE c.id = ANY(CAST(:ids AS VARCHAR[]))
"""
_PG_COUNTERS = f"""
       , (SELECT json_agg(json_build_array(u.metric, u.period_start, u.used,
                                           u.grace_reached_at IS NOT NULL))
            FROM (SELECT * FROM usage_counters u WHERE u.customer_id = c.id
                   ORDER BY CASE WHEN u.metric IN ({_GAUGE_LIST}) THEN 0 ELSE 1 END,
                            u.period_start DESC
                   LIMIT {_HISTORY_ROWS + len(GAUGES)}) u) AS counters
"""
_SQLITE_CONTEXT = """
SELECT c.id, c.status, c.plan, c.interval, c.trial_started_at, c.trial_ends_at,
       c.current_period_start, c.current_period_end,
       (SELECT json_group_array(json_array(o.metric, o.value))
          FROM limit_overrides o WHERE o.customer_id = c.id) AS overrides,
       (SELECT json_group_array(json_array(a.addon, a.kind, a.quantity, a.active,
                                           a.period_start))
          FROM customer_addons a WHERE a.customer_id = c.id) AS addons,
       EXISTS (SELECT 1 FROM usage_threshold_crossings x
                WHERE x.customer_id = c.id AND x.signalled_at IS NULL) AS pending
       {counters}
FROM customers c
WHERE c.id IN :ids
"""
_SQLITE_COUNTERS = f"""
       , (SELECT json_group_array(json_array(u.metric, u.period_start, u.used,
                                             u.grace_reached_at IS NOT NULL))
            FROM (SELECT * FROM usage_counters u WHERE u.customer_id = c.id
                   ORDER BY CASE WHEN u.metric IN ({_GAUGE_LIST}) THEN 0 ELSE 1 END,
                            u.period_start DESC
                   LIMIT {_HISTORY_ROWS + len(GAUGES)}) u) AS counters
"""
# Typed by name (positional columns would match the result's columns in order).
_CONTEXT_COLUMNS: dict[str, Any] = {
    name: UTCDateTime()
    for name in ("trial_started_at", "trial_ends_at", "current_period_start", "current_period_end")
}


def _context_statement(dialect: str, with_counters: bool) -> Any:
    if dialect == "postgresql":
        sql = _PG_CONTEXT.format(counters=_PG_COUNTERS if with_counters else "")
        return text(sql).columns(**_CONTEXT_COLUMNS)
    sql = _SQLITE_CONTEXT.format(counters=_SQLITE_COUNTERS if with_counters else "")
    return text(sql).bindparams(bindparam("ids", expanding=True)).columns(**_CONTEXT_COLUMNS)


_CONTEXT_STATEMENTS: dict[tuple[str, bool], Any] = {}


def _json_list(value: Any) -> list[Any]:
    if value is None:
        return []
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return list(loaded or [])


async def load_contexts(
    session: AsyncSession, customer_ids: Iterable[str], *, with_counters: bool = False
) -> dict[str, UsageContext]:
    """Usage contexts of the customers that exist, by id."""
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return {}
    dialect = _dialect(session)
    statement = _CONTEXT_STATEMENTS.get((dialect, with_counters))
    if statement is None:
        statement = _context_statement(dialect, with_counters)
        _CONTEXT_STATEMENTS[(dialect, with_counters)] = statement
    result = await session.execute(statement, {"ids": ids})
    return {
        row["id"]: _context_from_row(row, with_counters=with_counters) for row in result.mappings()
    }


def _context_from_row(row: Any, *, with_counters: bool) -> UsageContext:
    """A context out of a row of the context query (SQLAlchemy mapping or asyncpg record)."""
    counters = []
    if with_counters:
        counters = [
            CounterRecord(
                metric=str(metric),
                period_start=_utc(start) or GAUGE_PERIOD_START,
                used=int(used),
                grace_reached=bool(grace),
            )
            for metric, start, used, grace in _json_list(row["counters"])
        ]
    overrides = row["overrides"]
    addons = row["addons"]
    return UsageContext(
        customer_id=row["id"],
        subscriber=Subscriber(
            status=row["status"],
            plan=row["plan"],
            interval=row["interval"],
            trial_started_at=row["trial_started_at"],
            trial_ends_at=row["trial_ends_at"],
            current_period_start=row["current_period_start"],
            current_period_end=row["current_period_end"],
        ),
        addons=[
            HeldAddon(
                addon=str(addon),
                kind=str(kind),
                quantity=int(quantity),
                active=bool(active),
                period_start=_utc(start),
            )
            for addon, kind, quantity, active, start in _json_list(addons)
        ]
        if addons
        else [],
        overrides={
            str(metric): (None if value is None else int(value))
            for metric, value in _json_list(overrides)
        }
        if overrides
        else {},
        pending_signals=bool(row["pending"]),
        counters=counters,
    )


# -- batch ingestion --------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    customer_id: str
    metric: str
    quantity: int
    idempotency_key: str
    occurred_at: datetime
    # The counter row the event counts in (gauges: the fixed gauge period).
    period_start: datetime
    period_end: datetime | None


@dataclass(frozen=True)
class LimitRow:
    """A limit a batch's counters are compared with for threshold notices."""

    customer_id: str
    metric: str
    limit: int
    # The billing period a notice is for (gauges included).
    notice_period_start: datetime


@dataclass
class EventBatch:
    """A batch of events as columns (what the set-based insert takes)."""

    customer_ids: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    quantities: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    # None: when recorded (most events say nothing; sending less is faster).
    occurred: list[datetime | None] = field(default_factory=list)
    # The counter row each event counts in (gauges: the fixed gauge period).
    period_starts: list[datetime] = field(default_factory=list)
    # End of each counter period (by customer and start; gauges have none): one period
    # per customer.
    period_ends: dict[tuple[str, datetime], datetime] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, now: datetime) -> list[EventRow]:
        return [
            EventRow(c, m, q, k, now if o is None else o, s, self.period_ends.get((c, s)))
            for c, m, q, k, o, s in zip(
                self.customer_ids,
                self.metrics,
                self.quantities,
                self.keys,
                self.occurred,
                self.period_starts,
                strict=True,
            )
        ]


@dataclass(frozen=True)
class IngestPlan:
    events: EventBatch
    # Only limited metrics; an unlimited one crosses nothing.
    limits: list[LimitRow]


@dataclass(frozen=True)
class CounterChange:
    """A counter the batch changed: its total after the batch and what the batch added."""

    customer_id: str
    metric: str
    period_start: datetime
    used: int
    delta: int
    events: int
    grace_reached: bool


@dataclass(frozen=True)
class Crossing:
    customer_id: str
    metric: str
    # The billing period the notification is for (gauges too).
    period_start: datetime
    threshold: int
    used: int
    limit: int


@dataclass
class IngestOutcome:
    contexts: dict[str, UsageContext]
    # Well-formed events of known customers (recorded now, or duplicates).
    planned: int
    changes: list[CounterChange]
    # Crossings this batch recorded first: its caller signals them.
    crossings: list[Crossing]


# The whole batch in one statement (so one implicit transaction, one round trip): new events
# (a key already recorded for the customer is skipped), their totals added to the counters
# and daily totals, and the 80 % / 100 % crossings they cause recorded (a crossing row is
# inserted once: whoever inserts it signals). Answers the changed counters and the
# crossings. Per event only what varies (an occurrence time only when given: NULL is the
# recording time); each customer's period once, its counter period derived in the statement
# (gauges: the fixed gauge period). Parameters: see :func:`pg_ingest_arguments`.
PG_INGEST = """
WITH input AS (
    SELECT t.customer_id, t.metric, t.quantity, t.idempotency_key,
           COALESCE(t.occurred_at, $6) AS occurred_at,
           CASE WHEN t.metric = ANY($15::varchar[]) THEN $16::timestamptz
                ELSE p.period_start END AS period_start
    FROM unnest($1::varchar[], $2::varchar[], $3::bigint[], $4::varchar[], $5::timestamptz[])
        AS t(customer_id, metric, quantity, idempotency_key, occurred_at)
    LEFT JOIN unnest($7::varchar[], $8::timestamptz[]) AS p(customer_id, period_start)
        USING (customer_id)
),
new_events AS (
    INSERT INTO usage_events (customer_id, metric, quantity, idempotency_key, occurred_at,
                              period_start, recorded_at)
    SELECT customer_id, metric, quantity, idempotency_key, occurred_at, period_start, $6
    FROM input
    ORDER BY customer_id, idempotency_key
    ON CONFLICT (customer_id, idempotency_key) DO NOTHING
    RETURNING customer_id, metric, quantity, occurred_at, period_start
),
totals AS (
    SELECT customer_id, metric, period_start,
           sum(quantity)::bigint AS delta, count(*) AS events
    FROM new_events
    GROUP BY customer_id, metric, period_start
),
counters AS (
    INSERT INTO usage_counters (customer_id, metric, period_start, period_end, used,
                                updated_at)
    SELECT t.customer_id, t.metric, t.period_start, p.period_end, t.delta, $6
    FROM totals t
    LEFT JOIN unnest($7::varchar[], $8::timestamptz[], $9::timestamptz[])
           AS p(customer_id, period_start, period_end)
           ON p.customer_id = t.customer_id AND p.period_start = t.period_start
    ORDER BY t.customer_id, t.metric, t.period_start
    ON CONFLICT (customer_id, metric, period_start) DO UPDATE
        SET used = usage_counters.used + excluded.used, updated_at = excluded.updated_at
    RETURNING customer_id, metric, period_start, used, grace_reached_at IS NOT NULL AS grace
),
daily AS (
    INSERT INTO usage_daily (customer_id, metric, day, quantity)
    SELECT customer_id, metric, (occurred_at AT TIME ZONE 'UTC')::date, sum(quantity)::bigint
    FROM new_events
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, metric, day) DO UPDATE
        SET quantity = usage_daily.quantity + excluded.quantity
),
changes AS (
    SELECT c.customer_id, c.metric, c.period_start, c.used, c.grace, t.delta, t.events
    FROM counters c JOIN totals t USING (customer_id, metric, period_start)
),
crossings AS (
    INSERT INTO usage_threshold_crossings (customer_id, metric, period_start, threshold,
                                           used, "limit", crossed_at)
    SELECT c.customer_id, c.metric, l.notice_period, th.threshold, c.used, l.lim, $6
    FROM changes c
    JOIN unnest($10::varchar[], $11::varchar[], $12::bigint[], $13::timestamptz[])
         AS l(customer_id, metric, lim, notice_period)
         ON l.customer_id = c.customer_id AND l.metric = c.metric
    CROSS JOIN unnest($14::int[]) AS th(threshold)
    WHERE c.delta > 0
      AND (c.used - c.delta) * 100 < l.lim * th.threshold
      AND l.lim * th.threshold <= c.used * 100
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (customer_id, metric, period_start, threshold) DO NOTHING
    RETURNING customer_id, metric, period_start, threshold, used, "limit"
)
SELECT false AS crossing, customer_id, metric, period_start, used, grace, delta, events,
       0 AS threshold, 0::bigint AS lim
FROM changes
UNION ALL
SELECT true, customer_id, metric, period_start, used, false, 0::bigint, 0::bigint,
       threshold, "limit"
FROM crossings
"""

_PG_MARK_GRACE = """
UPDATE usage_counters u SET grace_reached_at = $4
FROM unnest($1::varchar[], $2::varchar[], $3::timestamptz[]) AS g(customer_id, metric, period_start)
WHERE u.customer_id = g.customer_id AND u.metric = g.metric
  AND u.period_start = g.period_start AND u.grace_reached_at IS NULL
"""


def pg_ingest_arguments(events: EventBatch, limits: Sequence[LimitRow], now: datetime) -> list[Any]:
    """The positional arguments of :data:`PG_INGEST` (shared with the benchmark's raw
    baseline, which runs the very same statement)."""
    periods = {c: (s, e) for (c, s), e in events.period_ends.items()}
    if len(periods) != len(events.period_ends):
        raise ValueError("one usage period per customer in a batch")
    return [
        events.customer_ids,
        events.metrics,
        events.quantities,
        events.keys,
        events.occurred,
        now,
        list(periods),
        [s for s, _ in periods.values()],
        [e for _, e in periods.values()],
        [limit.customer_id for limit in limits],
        [limit.metric for limit in limits],
        [limit.limit for limit in limits],
        [limit.notice_period_start for limit in limits],
        list(THRESHOLDS),
        _GAUGE_NAMES,
        GAUGE_PERIOD_START,
    ]


_GAUGE_NAMES = sorted(GAUGES)


async def _retry_deadlock(run: Callable[..., Any], *arguments: Any) -> Any:
    """Run a hot-path statement, again if PostgreSQL chose it to break a deadlock: each is
    its own transaction, rolled back whole, so running it again is exactly safe. (An ingest
    and a consume of the same key at the same moment take the event and the counter in
    opposite orders; see the module's lock order.)"""
    for attempt in range(3):
        try:
            return await run(*arguments)
        except asyncpg.DeadlockDetectedError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _grace_candidates(
    changes: Iterable[CounterChange], limits: Iterable[LimitRow]
) -> list[tuple[str, str, datetime]]:
    """Counters that reached the grace band and have not recorded it yet."""
    limit_of = {(limit.customer_id, limit.metric): limit.limit for limit in limits}
    return sorted(
        (c.customer_id, c.metric, c.period_start)
        for c in changes
        if not c.grace_reached
        and c.delta > 0
        and enters_grace(c.metric, c.used, limit_of.get((c.customer_id, c.metric)))
    )


PlanBatch = Callable[[dict[str, UsageContext]], IngestPlan]


async def ingest_batch(
    sessions: SessionFactory, customer_ids: Iterable[str], plan: PlanBatch, now: datetime
) -> IngestOutcome:
    """Load the customers' usage contexts, let ``plan`` turn the batch into event rows and
    limits, and record it: events (a key already recorded for the customer is skipped),
    counters, daily totals and threshold crossings, atomically. Recording never fails
    because of a limit."""
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        return await _pg_ingest_batch(engine, customer_ids, plan, now)
    return await _sqlite_ingest_batch(sessions, customer_ids, plan, now)


_PG_CONTEXT_POSITIONAL = _PG_CONTEXT.format(counters="").replace(":ids", "$1")


async def _pg_ingest_batch(
    engine: AsyncEngine, customer_ids: Iterable[str], plan: PlanBatch, now: datetime
) -> IngestOutcome:
    ids = list(dict.fromkeys(customer_ids))
    pool = await hot_connection_pool(engine)
    async with pool.acquire() as driver:
        contexts: dict[str, UsageContext] = {}
        if ids:
            for record in await driver.fetch(_PG_CONTEXT_POSITIONAL, ids):
                contexts[record["id"]] = _context_from_row(record, with_counters=False)
        batch = plan(contexts)
        if not batch.events:
            return IngestOutcome(contexts, 0, [], [])
        changes: list[CounterChange] = []
        crossings: list[Crossing] = []
        rows = await _retry_deadlock(
            driver.fetch, PG_INGEST, *pg_ingest_arguments(batch.events, batch.limits, now)
        )
        for r in rows:
            if r[0]:
                crossings.append(Crossing(r[1], r[2], r[3], r[8], r[4], r[9]))
            else:
                changes.append(CounterChange(r[1], r[2], r[3], r[4], r[6], r[7], r[5]))
        grace = _grace_candidates(changes, batch.limits)
        if grace:
            # Its own statement: a crash in between loses only this mark, which the
            # counter's next event sets again.
            await driver.execute(
                _PG_MARK_GRACE,
                [g[0] for g in grace],
                [g[1] for g in grace],
                [g[2] for g in grace],
                now,
            )
    return IngestOutcome(contexts, len(batch.events), changes, crossings)


async def _sqlite_ingest_batch(
    sessions: SessionFactory, customer_ids: Iterable[str], plan: PlanBatch, now: datetime
) -> IngestOutcome:
    async with sessions() as session:
        contexts = await load_contexts(session, customer_ids)
        # End the read before the first write, so the write waits for SQLite's lock
        # (busy timeout) instead of failing on a stale snapshot.
        await session.commit()
        batch = plan(contexts)
        if not batch.events:
            return IngestOutcome(contexts, 0, [], [])
        changes = await _sqlite_ingest(session, batch.events.rows(now), now)
        limit_of = {(limit.customer_id, limit.metric): limit for limit in batch.limits}
        detected = []
        for change in changes:
            limit = limit_of.get((change.customer_id, change.metric))
            if limit is None or change.delta <= 0:
                continue
            before = change.used - change.delta
            detected += [
                Crossing(
                    customer_id=change.customer_id,
                    metric=change.metric,
                    period_start=limit.notice_period_start,
                    threshold=threshold,
                    used=change.used,
                    limit=limit.limit,
                )
                for threshold in crossed_thresholds(before, change.used, limit.limit)
            ]
        crossings = await record_crossings(session, detected, now)
        grace = _grace_candidates(changes, batch.limits)
        if grace:
            await mark_grace(session, grace, now)
        await session.commit()
    return IngestOutcome(contexts, len(batch.events), changes, crossings)


def _chunks(rows: Sequence[Any], columns: int) -> Iterable[Sequence[Any]]:
    size = max(_SQLITE_MAX_VARIABLES // columns, 1)
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def _sqlite_ingest(
    session: AsyncSession, rows: Sequence[EventRow], now: datetime
) -> list[CounterChange]:
    ordered = sorted(rows, key=lambda r: (r.customer_id, r.idempotency_key))
    inserted: list[Any] = []
    for chunk in _chunks(ordered, 7):
        statement = (
            sqlite.insert(UsageEvent)
            .values(
                [
                    {
                        "customer_id": r.customer_id,
                        "metric": r.metric,
                        "quantity": r.quantity,
                        "idempotency_key": r.idempotency_key,
                        "occurred_at": r.occurred_at,
                        "period_start": r.period_start,
                        "recorded_at": now,
                    }
                    for r in chunk
                ]
            )
            .on_conflict_do_nothing(index_elements=["customer_id", "idempotency_key"])
            .returning(
                UsageEvent.customer_id,
                UsageEvent.metric,
                UsageEvent.quantity,
                UsageEvent.occurred_at,
                UsageEvent.period_start,
            )
        )
        inserted.extend((await session.execute(statement)).all())
    if not inserted:
        return []
    ends = {(r.customer_id, r.period_start): r.period_end for r in rows}
    totals: dict[tuple[str, str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    daily: dict[tuple[str, str, date], int] = defaultdict(int)
    for customer_id, metric, quantity, occurred_at, period_start in inserted:
        total = totals[(customer_id, metric, period_start)]
        total[0] += quantity
        total[1] += 1
        daily[(customer_id, metric, occurred_at.astimezone(UTC).date())] += quantity
    changes = []
    counter_rows = [
        {
            "customer_id": c,
            "metric": m,
            "period_start": s,
            "period_end": ends.get((c, s)),
            "used": t[0],
            "updated_at": now,
        }
        for (c, m, s), t in sorted(totals.items())
    ]
    for chunk in _chunks(counter_rows, 6):
        upsert = sqlite.insert(UsageCounter).values(list(chunk))
        statement = upsert.on_conflict_do_update(
            index_elements=["customer_id", "metric", "period_start"],
            set_={
                "used": UsageCounter.used + upsert.excluded.used,
                "updated_at": upsert.excluded.updated_at,
            },
        ).returning(
            UsageCounter.customer_id,
            UsageCounter.metric,
            UsageCounter.period_start,
            UsageCounter.used,
            UsageCounter.grace_reached_at,
        )
        result = await session.execute(statement)
        for row in result.all():
            customer_id, metric, period_start = row[0], row[1], row[2]
            used, grace_reached = int(row[3]), row[4] is not None
            delta, events = totals[(customer_id, metric, period_start)]
            changes.append(
                CounterChange(
                    customer_id=customer_id,
                    metric=metric,
                    period_start=period_start,
                    used=used,
                    delta=delta,
                    events=events,
                    grace_reached=grace_reached,
                )
            )
    daily_rows = [
        {"customer_id": c, "metric": m, "day": d, "quantity": q}
        for (c, m, d), q in sorted(daily.items())
    ]
    for chunk in _chunks(daily_rows, 4):
        upsert = sqlite.insert(UsageDaily).values(list(chunk))
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=["customer_id", "metric", "day"],
                set_={"quantity": UsageDaily.quantity + upsert.excluded.quantity},
            )
        )
    return changes


# -- check and consume ------------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert


async def event_recorded(session: AsyncSession, customer_id: str, key: str) -> bool:
    found = await session.scalar(
        select(UsageEvent.id).where(
            UsageEvent.customer_id == customer_id, UsageEvent.idempotency_key == key
        )
    )
    return found is not None


async def insert_event(session: AsyncSession, row: EventRow, now: datetime) -> bool:
    """Record one event; False when its key was already recorded for the customer."""
    statement = (
        _insert(session)(UsageEvent)
        .values(
            customer_id=row.customer_id,
            metric=row.metric,
            quantity=row.quantity,
            idempotency_key=row.idempotency_key,
            occurred_at=row.occurred_at,
            period_start=row.period_start,
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "idempotency_key"])
        .returning(UsageEvent.id)
    )
    return (await session.scalar(statement)) is not None


async def ensure_counter(
    session: AsyncSession,
    customer_id: str,
    metric: str,
    period_start: datetime,
    period_end: datetime | None,
    now: datetime,
) -> None:
    await session.execute(
        _insert(session)(UsageCounter)
        .values(
            customer_id=customer_id,
            metric=metric,
            period_start=period_start,
            period_end=period_end,
            used=0,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "metric", "period_start"])
    )


async def consume_counter(
    session: AsyncSession,
    customer_id: str,
    metric: str,
    period_start: datetime,
    quantity: int,
    ceiling: int | None,
    now: datetime,
) -> tuple[int, bool] | None:
    """Add ``quantity`` if the total stays within ``ceiling`` (``None``: no limit), in one
    conditional UPDATE: the row lock serializes concurrent callers and the condition is
    re-checked on the latest row, so no interleaving can push usage past the ceiling.
    Answers (new total, grace already recorded), or None when refused. The row must exist
    (:func:`ensure_counter`)."""
    statement = update(UsageCounter).where(
        UsageCounter.customer_id == customer_id,
        UsageCounter.metric == metric,
        UsageCounter.period_start == period_start,
    )
    if ceiling is not None and quantity > 0:
        statement = statement.where(UsageCounter.used + quantity <= ceiling)
    statement = statement.values(used=UsageCounter.used + quantity, updated_at=now).returning(
        UsageCounter.used, UsageCounter.grace_reached_at
    )
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    return int(row[0]), row[1] is not None


async def add_daily(
    session: AsyncSession, customer_id: str, metric: str, day: date, quantity: int
) -> None:
    insert = _insert(session)(UsageDaily).values(
        customer_id=customer_id, metric=metric, day=day, quantity=quantity
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["customer_id", "metric", "day"],
            set_={"quantity": UsageDaily.quantity + insert.excluded.quantity},
        )
    )


async def counter_used(
    session: AsyncSession, customer_id: str, metric: str, period_start: datetime
) -> int:
    used = await session.scalar(
        select(UsageCounter.used).where(
            UsageCounter.customer_id == customer_id,
            UsageCounter.metric == metric,
            UsageCounter.period_start == period_start,
        )
    )
    return int(used or 0)


# -- atomic check-and-consume ----------------------------------------------------------


@dataclass(frozen=True)
class ConsumeSpec:
    """What to consume, decided from the customer's usage context."""

    event: EventRow
    # The largest total the counter may reach; None: no limit (or a decrement).
    ceiling: int | None
    # The customer's status blocks consumption: nothing is recorded, but a retried key
    # still answers its first decision.
    blocked: bool
    # For threshold notices: the limit, and the billing period a notice is for.
    limit: int | None
    notice_period_start: datetime


@dataclass
class ConsumeOutcome:
    # None: no such customer.
    context: UsageContext | None
    # consumed | duplicate (the key was recorded before) | refused
    result: str = "refused"
    # The counter's total after the call.
    used: int = 0
    # Crossings this call recorded first: its caller signals them.
    crossings: list[Crossing] = field(default_factory=list)


DecideConsume = Callable[[UsageContext], ConsumeSpec]

# The whole check-and-consume in one statement, run outside any explicit transaction: the
# counter row's lock is held for this statement and its commit only, never across a round
# trip (32 callers on one customer queue on that lock; a lock held while the API process
# schedules other requests made p99 latency grow with the number of callers).
#
# The counter goes first: raised only if the key is not recorded yet (the statement's
# snapshot) and the total stays within the ceiling ($8; NULL: no limit). The snapshot
# pre-check lets a clearly refused call touch no row; the decision is the ON CONFLICT DO
# UPDATE ... WHERE, evaluated on the latest row version under its lock, so concurrent
# callers never push past the ceiling. The event is inserted only from a raised counter
# and without ON CONFLICT: a concurrent call with the same key that committed after our
# snapshot makes it fail with a unique violation, which aborts the whole statement (no
# phantom consumption) and is answered as a duplicate. A refused call records nothing,
# so the key can be retried later. The day's total, the grace mark ($9: the limit for a
# counter with a limit, else NULL) and the 80 % / 100 % crossings ($10: the limit when the
# call can cross one; $11 the notice period; whoever inserts a crossing signals) ride on
# the raised counter.
PG_CONSUME = """
WITH counter AS (
    INSERT INTO usage_counters AS u (customer_id, metric, period_start, period_end, used,
                                     updated_at, grace_reached_at)
    SELECT $1::varchar, $2::varchar, $6::timestamptz, $7::timestamptz, $3::bigint, $5::timestamptz,
           CASE WHEN $3::bigint >= $9::bigint THEN $5::timestamptz END
    WHERE NOT EXISTS (SELECT 1 FROM usage_events e
                       WHERE e.customer_id = $1::varchar AND e.idempotency_key = $4::varchar)
      AND ($8::bigint IS NULL
           OR COALESCE((SELECT c.used FROM usage_counters c
                         WHERE c.customer_id = $1::varchar AND c.metric = $2::varchar
                           AND c.period_start = $6::timestamptz), 0) + $3::bigint <= $8::bigint)
    ON CONFLICT (customer_id, metric, period_start) DO UPDATE
        SET used = u.used + excluded.used, updated_at = excluded.updated_at,
            grace_reached_at = COALESCE(
                u.grace_reached_at,
                CASE WHEN u.used + excluded.used >= $9::bigint THEN excluded.updated_at END)
        WHERE $8::bigint IS NULL OR u.used + excluded.used <= $8::bigint
    RETURNING u.used
),
ev AS (
    INSERT INTO usage_events (customer_id, metric, quantity, idempotency_key, occurred_at,
                              period_start, recorded_at)
    SELECT $1::varchar, $2::varchar, $3::bigint, $4::varchar, $5::timestamptz,
           $6::timestamptz, $5::timestamptz
    FROM counter
),
daily AS (
    INSERT INTO usage_daily (customer_id, metric, day, quantity)
    SELECT $1::varchar, $2::varchar, ($5::timestamptz AT TIME ZONE 'UTC')::date, $3::bigint
    FROM counter
    ON CONFLICT (customer_id, metric, day) DO UPDATE
        SET quantity = usage_daily.quantity + excluded.quantity
),
crossings AS (
    INSERT INTO usage_threshold_crossings (customer_id, metric, period_start, threshold,
                                           used, "limit", crossed_at)
    SELECT $1::varchar, $2::varchar, $11::timestamptz, th.threshold, c.used, $10::bigint,
           $5::timestamptz
    FROM counter c CROSS JOIN unnest($12::int[]) AS th(threshold)
    WHERE (c.used - $3::bigint) * 100 < $10::bigint * th.threshold
      AND $10::bigint * th.threshold <= c.used * 100
    ORDER BY th.threshold
    ON CONFLICT (customer_id, metric, period_start, threshold) DO NOTHING
    RETURNING threshold
)
SELECT (SELECT used FROM counter) AS used,
       EXISTS (SELECT 1 FROM usage_events e
                WHERE e.customer_id = $1::varchar AND e.idempotency_key = $4::varchar) AS recorded,
       COALESCE((SELECT c.used FROM usage_counters c
                  WHERE c.customer_id = $1::varchar AND c.metric = $2::varchar
                    AND c.period_start = $6::timestamptz), 0) AS seen,
       ARRAY(SELECT threshold FROM crossings) AS crossed
"""
# A blocked customer consumes nothing; a retried key still answers "duplicate".
_PG_PEEK = """
SELECT EXISTS (SELECT 1 FROM usage_events
                WHERE customer_id = $1::varchar AND idempotency_key = $4::varchar),
       COALESCE((SELECT used FROM usage_counters
                  WHERE customer_id = $1::varchar AND metric = $2::varchar
                    AND period_start = $3::timestamptz), 0)
"""
_PG_CONTEXT_WITH_COUNTERS = _PG_CONTEXT.format(counters=_PG_COUNTERS).replace(":ids", "$1")


def _detect(spec: ConsumeSpec, used: int, now: datetime) -> list[Crossing]:
    if spec.limit is None or spec.event.quantity <= 0:
        return []
    return [
        Crossing(
            customer_id=spec.event.customer_id,
            metric=spec.event.metric,
            period_start=spec.notice_period_start,
            threshold=threshold,
            used=used,
            limit=spec.limit,
        )
        for threshold in crossed_thresholds(used - spec.event.quantity, used, spec.limit)
    ]


async def check_and_consume(
    sessions: SessionFactory, customer_id: str, decide: DecideConsume, now: datetime
) -> ConsumeOutcome:
    """Load the customer's usage context, let ``decide`` say what to consume, and consume
    it atomically: the event is recorded and the counter raised together, or neither."""
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        return await _pg_check_and_consume(engine, customer_id, decide, now)
    return await _sqlite_check_and_consume(sessions, customer_id, decide, now)


def pg_consume_arguments(spec: ConsumeSpec) -> list[Any]:
    """The positional arguments of :data:`PG_CONSUME` (shared with the benchmark)."""
    event = spec.event
    crossing_limit = None if spec.limit is None or event.quantity <= 0 else spec.limit
    # Gauges keep no grace history.
    grace_at = None if event.metric in GAUGES else spec.limit
    return [
        event.customer_id,
        event.metric,
        event.quantity,
        event.idempotency_key,
        event.occurred_at,
        event.period_start,
        event.period_end,
        spec.ceiling,
        grace_at,
        crossing_limit,
        spec.notice_period_start,
        list(THRESHOLDS),
    ]


async def _pg_check_and_consume(
    engine: AsyncEngine, customer_id: str, decide: DecideConsume, now: datetime
) -> ConsumeOutcome:
    pool = await hot_connection_pool(engine)
    async with pool.acquire() as driver:
        record = await driver.fetchrow(_PG_CONTEXT_WITH_COUNTERS, [customer_id])
        if record is None:
            return ConsumeOutcome(context=None)
        context = _context_from_row(record, with_counters=True)
        outcome = ConsumeOutcome(context=context)
        spec = decide(context)
        event = spec.event
        if spec.blocked:
            recorded, used = await driver.fetchrow(
                _PG_PEEK, customer_id, event.metric, event.period_start, event.idempotency_key
            )
            outcome.result = "duplicate" if recorded else "refused"
            outcome.used = int(used)
            return outcome
        arguments = pg_consume_arguments(spec)
        for attempt in range(3):
            try:
                row = await _retry_deadlock(driver.fetchrow, PG_CONSUME, *arguments)
                break
            except asyncpg.UniqueViolationError:
                # The same key consumed concurrently: the statement was rolled back whole;
                # run it again to see the winner's outcome in a fresh snapshot.
                if attempt == 2:
                    raise
        assert row is not None
        if row["used"] is not None:
            outcome.result, outcome.used = "consumed", int(row["used"])
            crossed = set(row["crossed"])
            outcome.crossings = [
                c for c in _detect(spec, outcome.used, now) if c.threshold in crossed
            ]
        else:
            outcome.result = "duplicate" if row["recorded"] else "refused"
            outcome.used = int(row["seen"])
            if spec.ceiling is not None and outcome.used + event.quantity <= spec.ceiling:
                # Refused on the latest row, not on the snapshot: answer the latest total.
                _, used = await driver.fetchrow(
                    _PG_PEEK, customer_id, event.metric, event.period_start, event.idempotency_key
                )
                outcome.used = int(used)
    return outcome


async def _sqlite_check_and_consume(
    sessions: SessionFactory, customer_id: str, decide: DecideConsume, now: datetime
) -> ConsumeOutcome:
    async with sessions() as session:
        contexts = await load_contexts(session, [customer_id], with_counters=True)
        context = contexts.get(customer_id)
        if context is None:
            return ConsumeOutcome(context=None)
        outcome = ConsumeOutcome(context=context)
        spec = decide(context)
        event = spec.event
        counter = (event.customer_id, event.metric, event.period_start)
        # End the read before the first write (see _sqlite_ingest_batch).
        await session.commit()
        if spec.blocked:
            if await event_recorded(session, customer_id, event.idempotency_key):
                outcome.result = "duplicate"
            outcome.used = await counter_used(session, *counter)
            return outcome
        if not await insert_event(session, event, now):
            outcome.result = "duplicate"
            outcome.used = await counter_used(session, *counter)
            return outcome
        if not any(
            r.metric == event.metric and r.period_start == event.period_start
            for r in context.counters
        ):
            await ensure_counter(session, *counter, event.period_end, now)
        consumed = await consume_counter(session, *counter, event.quantity, spec.ceiling, now)
        if consumed is None:
            outcome.used = await counter_used(session, *counter)
            await session.rollback()
            return outcome
        (outcome.used, grace_recorded), outcome.result = consumed, "consumed"
        await add_daily(
            session, event.customer_id, event.metric, now.astimezone(UTC).date(), event.quantity
        )
        outcome.crossings = await record_crossings(session, _detect(spec, outcome.used, now), now)
        if not grace_recorded and enters_grace(event.metric, outcome.used, spec.limit):
            await mark_grace(session, [counter], now)
        await session.commit()
    return outcome


# -- thresholds and grace ---------------------------------------------------------------


async def record_crossings(
    session: AsyncSession, crossings: Sequence[Crossing], now: datetime
) -> list[Crossing]:
    """Insert crossing rows; answers the ones this transaction inserted (only their
    inserter signals the workflow)."""
    if not crossings:
        return []
    ordered = sorted(
        set(crossings), key=lambda c: (c.customer_id, c.metric, c.period_start, c.threshold)
    )
    statement = (
        _insert(session)(UsageThresholdCrossing)
        .values(
            [
                {
                    "customer_id": c.customer_id,
                    "metric": c.metric,
                    "period_start": c.period_start,
                    "threshold": c.threshold,
                    "used": c.used,
                    "limit": c.limit,
                    "crossed_at": now,
                }
                for c in ordered
            ]
        )
        .on_conflict_do_nothing(
            index_elements=["customer_id", "metric", "period_start", "threshold"]
        )
        .returning(
            UsageThresholdCrossing.customer_id,
            UsageThresholdCrossing.metric,
            UsageThresholdCrossing.period_start,
            UsageThresholdCrossing.threshold,
        )
    )
    inserted = {tuple(row) for row in await session.execute(statement)}
    return [
        c for c in ordered if (c.customer_id, c.metric, c.period_start, c.threshold) in inserted
    ]


async def mark_grace(
    session: AsyncSession, counters: Iterable[tuple[str, str, datetime]], now: datetime
) -> None:
    """Remember the first time each counter reached the grace band in its period."""
    for customer_id, metric, period_start in sorted(set(counters)):
        await session.execute(
            update(UsageCounter)
            .where(
                UsageCounter.customer_id == customer_id,
                UsageCounter.metric == metric,
                UsageCounter.period_start == period_start,
                UsageCounter.grace_reached_at.is_(None),
            )
            .values(grace_reached_at=now)
        )


async def unsignalled_crossings(session: AsyncSession, customer_id: str) -> list[Crossing]:
    rows = await session.scalars(
        select(UsageThresholdCrossing)
        .where(
            UsageThresholdCrossing.customer_id == customer_id,
            UsageThresholdCrossing.signalled_at.is_(None),
        )
        .order_by(UsageThresholdCrossing.crossed_at, UsageThresholdCrossing.threshold)
    )
    return [
        Crossing(
            customer_id=r.customer_id,
            metric=r.metric,
            period_start=r.period_start,
            threshold=r.threshold,
            used=r.used,
            limit=r.limit,
        )
        for r in rows
    ]


async def mark_signalled(session: AsyncSession, crossing: Crossing, now: datetime) -> None:
    await session.execute(
        update(UsageThresholdCrossing)
        .where(
            UsageThresholdCrossing.customer_id == crossing.customer_id,
            UsageThresholdCrossing.metric == crossing.metric,
            UsageThresholdCrossing.period_start == crossing.period_start,
            UsageThresholdCrossing.threshold == crossing.threshold,
            UsageThresholdCrossing.signalled_at.is_(None),
        )
        .values(signalled_at=now)
    )


# -- overrides --------------------------------------------------------------------------


async def set_overrides(
    session: AsyncSession,
    customer_id: str,
    values: dict[str, int | None],
    actor: str,
    now: datetime,
) -> None:
    for metric, value in sorted(values.items()):
        insert = _insert(session)(LimitOverride).values(
            customer_id=customer_id, metric=metric, value=value, actor=actor, updated_at=now
        )
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["customer_id", "metric"],
                set_={
                    "value": insert.excluded.value,
                    "actor": insert.excluded.actor,
                    "updated_at": insert.excluded.updated_at,
                },
            )
        )


async def delete_override(session: AsyncSession, customer_id: str, metric: str) -> None:
    await session.execute(
        delete(LimitOverride).where(
            LimitOverride.customer_id == customer_id, LimitOverride.metric == metric
        )
    )


async def overrides_of(session: AsyncSession, customer_id: str) -> dict[str, int | None]:
    rows = await session.execute(
        select(LimitOverride.metric, LimitOverride.value).where(
            LimitOverride.customer_id == customer_id
        )
    )
    return {metric: value for metric, value in rows}


# -- history ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodTotal:
    metric: str
    period_start: datetime
    period_end: datetime | None
    used: int
    grace_reached_at: datetime | None


async def period_totals(
    session: AsyncSession, customer_id: str, metric: str, periods: int
) -> list[PeriodTotal]:
    """The metric's counters, newest period first."""
    rows = await session.scalars(
        select(UsageCounter)
        .where(UsageCounter.customer_id == customer_id, UsageCounter.metric == metric)
        .order_by(UsageCounter.period_start.desc())
        .limit(periods)
    )
    return [
        PeriodTotal(
            metric=r.metric,
            period_start=r.period_start,
            period_end=r.period_end,
            used=r.used,
            grace_reached_at=r.grace_reached_at,
        )
        for r in rows
    ]


async def daily_totals(
    session: AsyncSession, customer_id: str, metric: str, since: date
) -> list[tuple[date, int]]:
    rows = await session.execute(
        select(UsageDaily.day, UsageDaily.quantity)
        .where(
            UsageDaily.customer_id == customer_id,
            UsageDaily.metric == metric,
            UsageDaily.day >= since,
        )
        .order_by(UsageDaily.day)
    )
    return [(day, int(quantity)) for day, quantity in rows]
