"""Batch ingestion (``POST /v1/usage``): events, counters, daily totals and crossings of a
batch recorded atomically; a key already recorded for the customer counts once, and
recording never fails because of a limit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import SessionFactory
from db.models import UsageCounter, UsageDaily, UsageEvent
from db.usage.context import UsageContext, load_contexts
from db.usage.context_cache import context_cache
from db.usage.pool import hot_connection, hot_statement, retry_deadlock
from db.usage.records import Crossing, EventRow, LimitRow
from db.usage.thresholds import PG_MARK_GRACE, mark_grace, record_crossings
from domain.limits import (
    GAUGE_PERIOD_START,
    GAUGES,
    THRESHOLDS,
    crossed_thresholds,
    enters_grace,
    grace_starts_at,
)

# SQLite's default maximum of bound variables per statement (3.32+: 32766).
_SQLITE_MAX_VARIABLES = 32_000


@dataclass
class EventBatch:
    """A batch of events as columns (what the set-based insert takes)."""

    customer_ids: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    quantities: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    # None: when recorded (most events say nothing; sending less is faster).
    occurred: list[datetime | None] = field(default_factory=list)
    # Each customer's usage period (start, end): its events count in the counter row of
    # that start (gauges: the fixed gauge period). One period per customer.
    period_ends: dict[tuple[str, datetime], datetime] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, now: datetime) -> list[EventRow]:
        starts = {c: s for c, s in self.period_ends}
        rows = []
        for c, m, q, k, o in zip(
            self.customer_ids, self.metrics, self.quantities, self.keys, self.occurred, strict=True
        ):
            start = GAUGE_PERIOD_START if m in GAUGES else starts[c]
            rows.append(
                EventRow(
                    c, m, q, k, now if o is None else o, start, self.period_ends.get((c, start))
                )
            )
        return rows


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


@dataclass
class IngestOutcome:
    # Well-formed events of known customers (recorded now, or duplicates).
    planned: int
    # Events recorded now (the others were recorded before).
    accepted: int
    # Crossings this batch recorded first: its caller signals them.
    crossings: list[Crossing]
    # Customers known to have a crossing recorded before whose workflow signal has not
    # gone out (a crash between a commit and its signal): its caller signals them too.
    pending: set[str] = field(default_factory=set)


# The whole batch in one statement (so one implicit transaction, one round trip): new events
# (a key already recorded for the customer is skipped), their totals added to the counters
# and daily totals, and the 80 % / 100 % crossings they cause recorded (a crossing row is
# inserted once: whoever inserts it signals). Answers how many events were new, the
# crossings, and the counters that reached the grace band without its mark (the rule's
# threshold comes from the domain, per limit). Per event only what varies (an occurrence
# time only when given: NULL is the recording time); each customer's period once, its
# counter period derived in the statement (gauges: the fixed gauge period). First the
# guard: the batch was planned on contexts read at the customers' usage versions given;
# when one is not the row's any more nothing is written and the customer is answered stale
# (``db.usage.context_cache``). Parameters: see :func:`pg_ingest_arguments`.
PG_INGEST = hot_statement(
    """
WITH stale AS (
    -- A subquery per customer, not a join: a join may read the whole customers table.
    SELECT g.customer_id
    FROM unnest($7::varchar[], $17::bigint[]) AS g(customer_id, version)
    WHERE (SELECT c.usage_version FROM customers c WHERE c.id = g.customer_id)
          IS DISTINCT FROM g.version
),
input AS (
    SELECT t.customer_id, t.metric, t.quantity, t.idempotency_key,
           COALESCE(t.occurred_at, $6) AS occurred_at,
           CASE WHEN t.metric = ANY($15::varchar[]) THEN $16::timestamptz
                ELSE p.period_start END AS period_start
    FROM unnest($1::varchar[], $2::varchar[], $3::bigint[], $4::varchar[], $5::timestamptz[])
        AS t(customer_id, metric, quantity, idempotency_key, occurred_at)
    LEFT JOIN unnest($7::varchar[], $8::timestamptz[]) AS p(customer_id, period_start)
        USING (customer_id)
    WHERE NOT EXISTS (SELECT 1 FROM stale)
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
limits AS (
    SELECT * FROM unnest($10::varchar[], $11::varchar[], $12::bigint[], $13::timestamptz[],
                         $18::bigint[])
        AS l(customer_id, metric, lim, notice_period, grace_at)
),
crossings AS (
    INSERT INTO usage_threshold_crossings (customer_id, metric, period_start, threshold,
                                           used, "limit", crossed_at)
    SELECT c.customer_id, c.metric, l.notice_period, th.threshold, c.used, l.lim, $6
    FROM changes c
    JOIN limits l ON l.customer_id = c.customer_id AND l.metric = c.metric
    CROSS JOIN unnest($14::int[]) AS th(threshold)
    WHERE c.delta > 0
      AND (c.used - c.delta) * 100 < l.lim * th.threshold
      AND l.lim * th.threshold <= c.used * 100
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (customer_id, metric, period_start, threshold) DO NOTHING
    RETURNING customer_id, metric, period_start, threshold, used, "limit"
)
SELECT 0 AS kind, NULL::varchar AS customer_id, NULL::varchar AS metric,
       NULL::timestamptz AS period_start, coalesce(sum(events), 0)::bigint AS used,
       0 AS threshold, 0::bigint AS lim
FROM changes
UNION ALL
SELECT 1, customer_id, metric, period_start, used, threshold, "limit"
FROM crossings
UNION ALL
SELECT 4, c.customer_id, c.metric, c.period_start, c.used, 0, l.lim
FROM changes c JOIN limits l ON l.customer_id = c.customer_id AND l.metric = c.metric
WHERE NOT c.grace AND c.delta > 0 AND c.used >= l.grace_at
UNION ALL
SELECT 3, customer_id, NULL, NULL, 0::bigint, 0, 0::bigint
FROM stale
"""
)
# Kinds of the statement's rows.
_ACCEPTED, _CROSSING, _STALE, _GRACE = 0, 1, 3, 4


def pg_ingest_arguments(
    events: EventBatch,
    limits: Sequence[LimitRow],
    now: datetime,
    versions: Mapping[str, int],
) -> list[Any]:
    """The positional arguments of :data:`PG_INGEST` (shared with the benchmark's raw
    baseline, which runs the very same statement); ``versions``: the usage version of each
    customer's context the batch was planned on."""
    periods = {c: (s, e) for (c, s), e in events.period_ends.items()}
    if len(periods) != len(events.period_ends):
        raise ValueError("one usage period per customer in a batch")
    return [
        events.customer_ids,
        events.metrics,
        events.quantities,
        events.keys,
        # Usually none: no array of NULLs to send (unnest pads a missing array).
        None if all(o is None for o in events.occurred) else events.occurred,
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
        [versions[c] for c in periods],
        [grace_starts_at(limit.metric, limit.limit) for limit in limits],
    ]


_GAUGE_NAMES = sorted(GAUGES)


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


# Plans of one batch on contexts that moved on meanwhile: each is read again at once, so
# only a customer changed again and again within milliseconds runs out.
_STALE_ATTEMPTS = 5


async def _pg_ingest_batch(
    engine: AsyncEngine, customer_ids: Iterable[str], plan: PlanBatch, now: datetime
) -> IngestOutcome:
    ids = list(dict.fromkeys(customer_ids))
    cache = context_cache(engine)
    contexts = cache.kept(ids)
    async with hot_connection(engine) as driver:
        unread = [cid for cid in ids if cid not in contexts]
        read: dict[str, UsageContext] = {}
        for _ in range(_STALE_ATTEMPTS):
            if unread:
                read.update(await cache.read(driver, unread))
                contexts.update(read)
            batch = plan(contexts)
            if not batch.events:
                return IngestOutcome(0, 0, [])
            versions = {cid: contexts[cid].version for cid, _ in batch.events.period_ends}
            rows = await retry_deadlock(
                driver.fetch,
                PG_INGEST,
                *pg_ingest_arguments(batch.events, batch.limits, now, versions),
            )
            unread = [r[1] for r in rows if r[0] == _STALE]
            if not unread:
                break
            for cid in unread:
                # Read again; one that is gone (erased) is not found: the plan rejects it.
                contexts.pop(cid, None)
        else:
            raise RuntimeError(f"usage contexts kept changing: {', '.join(unread)}")
        # Crossings left unsignalled are the relay's (services.usage_notices); a context
        # read now tells of them anyway, and its customer's are sent on right away.
        pending = {cid for cid, usage in read.items() if usage.pending_signals}
        outcome = IngestOutcome(len(batch.events), 0, [], pending)
        grace = []
        for r in rows:
            kind = r[0]
            if kind == _ACCEPTED:
                outcome.accepted = r[4]
            elif kind == _CROSSING:
                outcome.crossings.append(Crossing(r[1], r[2], r[3], r[5], r[4], r[6]))
            elif kind == _GRACE:
                grace.append((r[1], r[2], r[3]))
        if grace:
            # Its own statement: a crash in between loses only this mark, which the
            # counter's next event sets again.
            await driver.execute(
                PG_MARK_GRACE,
                [g[0] for g in grace],
                [g[1] for g in grace],
                [g[2] for g in grace],
                now,
            )
    return outcome


async def _sqlite_ingest_batch(
    sessions: SessionFactory, customer_ids: Iterable[str], plan: PlanBatch, now: datetime
) -> IngestOutcome:
    async with sessions() as session:
        contexts = await load_contexts(session, customer_ids)
        # End the read before the first write, so the write waits for SQLite's lock
        # (busy timeout) instead of failing on a stale snapshot.
        await session.commit()
        batch = plan(contexts)
        pending = {cid for cid, usage in contexts.items() if usage.pending_signals}
        if not batch.events:
            return IngestOutcome(0, 0, [], pending)
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
    accepted = sum(change.events for change in changes)
    return IngestOutcome(len(batch.events), accepted, crossings, pending)


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
