"""Usage metering storage: events, counters, daily totals, threshold crossings, overrides.

Everything runs inside the caller's transaction and never commits. PostgreSQL gets
set-based statements (arrays through ``unnest``, one statement per batch, stable SQL so
asyncpg reuses its prepared statements); SQLite (the embedded default) gets multi-row
inserts of the same shape.

Lock order, the same for every writer so concurrent requests cannot deadlock: events (by
customer and key), then counters (by customer, metric, period), then daily totals (by
customer, metric, day), then threshold crossings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, column, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

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
    GAUGES,
    CounterRecord,
    HeldAddon,
    Period,
    Subscriber,
    effective_limits,
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
_CONTEXT_COLUMNS = (
    column("trial_started_at", UTCDateTime()),
    column("trial_ends_at", UTCDateTime()),
    column("current_period_start", UTCDateTime()),
    column("current_period_end", UTCDateTime()),
)


def _context_statement(dialect: str, with_counters: bool) -> Any:
    if dialect == "postgresql":
        sql = _PG_CONTEXT.format(counters=_PG_COUNTERS if with_counters else "")
        return text(sql).columns(*_CONTEXT_COLUMNS)
    sql = _SQLITE_CONTEXT.format(counters=_SQLITE_COUNTERS if with_counters else "")
    return text(sql).bindparams(bindparam("ids", expanding=True)).columns(*_CONTEXT_COLUMNS)


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
    contexts = {}
    for row in result.mappings():
        counters = []
        if with_counters:
            counters = [
                CounterRecord(
                    metric=str(metric),
                    period_start=_utc(start) or datetime.min.replace(tzinfo=UTC),
                    used=int(used),
                    grace_reached=bool(grace),
                )
                for metric, start, used, grace in _json_list(row["counters"])
            ]
        contexts[row["id"]] = UsageContext(
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
                for addon, kind, quantity, active, start in _json_list(row["addons"])
            ],
            overrides={
                str(metric): (None if value is None else int(value))
                for metric, value in _json_list(row["overrides"])
            },
            pending_signals=bool(row["pending"]),
            counters=counters,
        )
    return contexts


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
class CounterChange:
    """A counter the batch changed: its total after the batch and what the batch added."""

    customer_id: str
    metric: str
    period_start: datetime
    used: int
    delta: int
    events: int
    grace_reached: bool


# The whole batch in one statement: new events (a repeated key is skipped), their totals
# added to the counters, their daily totals, and the counters' new values.
PG_INGEST = """
WITH input AS (
    SELECT * FROM unnest(
        CAST(:customer_ids AS VARCHAR[]), CAST(:metrics AS VARCHAR[]),
        CAST(:quantities AS BIGINT[]), CAST(:keys AS VARCHAR[]),
        CAST(:occurred AS TIMESTAMPTZ[]), CAST(:period_starts AS TIMESTAMPTZ[])
    ) AS t(customer_id, metric, quantity, idempotency_key, occurred_at, period_start)
),
new_events AS (
    INSERT INTO usage_events (customer_id, metric, quantity, idempotency_key, occurred_at,
                              period_start, recorded_at)
    SELECT customer_id, metric, quantity, idempotency_key, occurred_at, period_start,
           CAST(:now AS TIMESTAMPTZ)
    FROM input
    ORDER BY customer_id, idempotency_key
    ON CONFLICT (customer_id, idempotency_key) DO NOTHING
    RETURNING customer_id, metric, quantity, occurred_at, period_start
),
totals AS (
    SELECT customer_id, metric, period_start,
           CAST(sum(quantity) AS BIGINT) AS delta, count(*) AS events
    FROM new_events
    GROUP BY customer_id, metric, period_start
),
counters AS (
    INSERT INTO usage_counters (customer_id, metric, period_start, period_end, used,
                                updated_at)
    SELECT t.customer_id, t.metric, t.period_start, p.period_end, t.delta,
           CAST(:now AS TIMESTAMPTZ)
    FROM totals t
    LEFT JOIN unnest(CAST(:p_customer_ids AS VARCHAR[]), CAST(:p_starts AS TIMESTAMPTZ[]),
                     CAST(:p_ends AS TIMESTAMPTZ[])) AS p(customer_id, period_start, period_end)
           ON p.customer_id = t.customer_id AND p.period_start = t.period_start
    ORDER BY t.customer_id, t.metric, t.period_start
    ON CONFLICT (customer_id, metric, period_start) DO UPDATE
        SET used = usage_counters.used + excluded.used, updated_at = excluded.updated_at
    RETURNING customer_id, metric, period_start, used, grace_reached_at IS NOT NULL AS grace
),
daily AS (
    INSERT INTO usage_daily (customer_id, metric, day, quantity)
    SELECT customer_id, metric, CAST(occurred_at AT TIME ZONE 'UTC' AS DATE),
           CAST(sum(quantity) AS BIGINT)
    FROM new_events
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, metric, day) DO UPDATE
        SET quantity = usage_daily.quantity + excluded.quantity
)
SELECT c.customer_id, c.metric, c.period_start, c.used, c.grace, t.delta, t.events
FROM counters c JOIN totals t USING (customer_id, metric, period_start)
"""


def pg_ingest_parameters(rows: Sequence[EventRow], now: datetime) -> dict[str, Any]:
    """The arrays :data:`PG_INGEST` takes (shared with the benchmark's raw baseline)."""
    periods = {(r.customer_id, r.period_start): r.period_end for r in rows if r.period_end}
    return {
        "customer_ids": [r.customer_id for r in rows],
        "metrics": [r.metric for r in rows],
        "quantities": [r.quantity for r in rows],
        "keys": [r.idempotency_key for r in rows],
        "occurred": [r.occurred_at for r in rows],
        "period_starts": [r.period_start for r in rows],
        "now": now,
        "p_customer_ids": [c for c, _ in periods],
        "p_starts": [s for _, s in periods],
        "p_ends": list(periods.values()),
    }


_PG_INGEST_STATEMENT = text(PG_INGEST)


async def ingest(
    session: AsyncSession, rows: Sequence[EventRow], now: datetime
) -> list[CounterChange]:
    """Record the events (a key already recorded for the customer is skipped), add the new
    ones to their counters and daily totals; answer every counter that changed."""
    if not rows:
        return []
    if _dialect(session) == "postgresql":
        result = await session.execute(_PG_INGEST_STATEMENT, pg_ingest_parameters(rows, now))
        return [
            CounterChange(
                customer_id=r[0],
                metric=r[1],
                period_start=r[2],
                used=r[3],
                delta=r[5],
                events=r[6],
                grace_reached=r[4],
            )
            for r in result.all()
        ]
    return await _sqlite_ingest(session, rows, now)


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
        for customer_id, metric, period_start, used, grace_at in await session.execute(statement):
            delta, events = totals[(customer_id, metric, period_start)]
            changes.append(
                CounterChange(
                    customer_id=customer_id,
                    metric=metric,
                    period_start=period_start,
                    used=used,
                    delta=delta,
                    events=events,
                    grace_reached=grace_at is not None,
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


# -- thresholds and grace ---------------------------------------------------------------


@dataclass(frozen=True)
class Crossing:
    customer_id: str
    metric: str
    # The billing period the notification is for (gauges too).
    period_start: datetime
    threshold: int
    used: int
    limit: int


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
