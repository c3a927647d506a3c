"""A customer's usage context: what limits depend on, read in one query."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import dialect_of
from db.types import UTCDateTime
from db.usage.pool import hot_statement
from db.usage.records import LimitRow
from domain.catalog import METRICS, Catalog
from domain.limits import (
    COUNTERS,
    GAUGE_PERIOD_START,
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


def _utc(value: datetime | str | None) -> datetime | None:
    """A timestamp out of a JSON aggregate (PostgreSQL: ISO with offset; SQLite: naive
    UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
    # ``customers.usage_version`` when read (migration 0011).
    version: int = 0
    _limits_memo: tuple[Catalog, Period, list[LimitRow]] | None = field(
        default=None, repr=False, compare=False
    )

    def period(self, now: datetime) -> Period:
        return usage_period(self.subscriber, now)

    def limit_rows(self, catalog: Catalog, now: datetime) -> tuple[Period, list[LimitRow]]:
        """The usage period at ``now`` and the limits in it (limited metrics only), worked
        out once per period: a context kept in memory answers many batches. (The period
        depends on ``now`` only as the calendar month holding it, so one that holds
        ``now`` is still the one.)"""
        memo = self._limits_memo
        if memo is not None and memo[0] is catalog and memo[1].start <= now < memo[1].end:
            return memo[1], memo[2]
        period = self.period(now)
        rows = [
            LimitRow(self.customer_id, metric, limit, period.start)
            for metric, limit in self.limits(catalog, period).items()
            if limit is not None
        ]
        self._limits_memo = (catalog, period, rows)
        return period, rows

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
       c.current_period_start, c.current_period_end, c.usage_version,
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
       c.current_period_start, c.current_period_end, c.usage_version,
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
    dialect = dialect_of(session)
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
        version=int(row["usage_version"]),
    )


# The same query for asyncpg (the hot paths' connections).
_PG_POSITIONAL = {
    with_counters: hot_statement(
        _PG_CONTEXT.format(counters=_PG_COUNTERS if with_counters else "").replace(":ids", "$1")
    )
    for with_counters in (False, True)
}


async def fetch_contexts(
    driver: asyncpg.Connection, customer_ids: list[str], *, with_counters: bool
) -> dict[str, UsageContext]:
    """:func:`load_contexts` on a hot-path connection."""
    if not customer_ids:
        return {}
    records = await driver.fetch(_PG_POSITIONAL[with_counters], customer_ids)
    return {r["id"]: _context_from_row(r, with_counters=with_counters) for r in records}
