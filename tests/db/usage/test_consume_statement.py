"""The check-and-consume statement (``usage_consume``, migration 0025) against the one it
replaced (migration 0010, the reference): the same batches of calls on twin customers must
get the same answers and leave the same rows. 0025 writes a counter once per run of calls
on it and a day's total once per run of calls on that day; 0010 wrote both per call."""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db.engine import SessionFactory
from db.usage.consume import _CONSUME, ConsumeSpec, _consume_arguments
from db.usage.pool import hot_connection_pool
from db.usage.records import EventRow
from domain.limits import ceiling
from tests.factories.customers import NewCustomer
from tests.factories.usage import month_around

VERSIONS = Path(__file__).resolve().parents[3] / "db" / "migrations" / "versions"
REFERENCE = "usage_consume_0010"


def reference_definition() -> str:
    path = VERSIONS / "0010_usage_consume_function.py"
    spec = importlib.util.spec_from_file_location("usage_consume_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.CREATE).replace("FUNCTION usage_consume(", f"FUNCTION {REFERENCE}(")


@dataclass(frozen=True)
class Call:
    customer: int
    metric: str
    quantity: int
    key: str
    at: datetime
    limit: int | None


def arguments(calls: list[Call], customers: list[str], period: datetime) -> list[list[Any]]:
    """``usage_consume``'s arrays for the calls, built by ``db.usage.consume`` itself."""
    return _consume_arguments(
        [
            ConsumeSpec(
                event=EventRow(
                    customer_id=customers[call.customer],
                    metric=call.metric,
                    quantity=call.quantity,
                    idempotency_key=call.key,
                    occurred_at=call.at,
                    period_start=period,
                    period_end=period + timedelta(days=30),
                ),
                ceiling=None if call.limit is None else ceiling(call.metric, call.limit),
                blocked=False,
                limit=call.limit,
                notice_period_start=period,
            )
            for call in calls
        ]
    )


def random_batch(rng: random.Random, now: datetime, keys: int) -> list[Call]:
    limits = {"messages": 12, "tokens": None}
    calls = []
    for _ in range(rng.randint(1, 24)):
        metric = rng.choice(("messages", "tokens"))
        calls.append(
            Call(
                customer=rng.randint(0, 1),
                metric=metric,
                quantity=rng.choice((1, 1, 2, 3, 5, 14)),
                # A small pool of keys: retries within a batch and across batches.
                key=f"k{rng.randint(0, keys)}",
                # Some calls just before midnight, some just after.
                at=now + timedelta(minutes=rng.choice((-1, 0, 1))),
                limit=limits[metric],
            )
        )
    if rng.random() < 0.7:
        # As the API sends them: counter by counter, arrival order within each.
        calls.sort(key=lambda c: (c.customer, c.metric))
    return calls


async def table_rows(connection: asyncpg.Connection, customers: list[str]) -> dict[str, Any]:
    """Every row the statement writes, with the customer as its index in ``customers``."""
    index = {cid: n for n, cid in enumerate(customers)}

    async def rows(sql: str) -> list[tuple[Any, ...]]:
        found = await connection.fetch(sql, customers)
        return sorted((index[r[0]], *r[1:]) for r in found)

    return {
        "counters": await rows(
            "SELECT customer_id, metric, period_start, period_end, used, updated_at,"
            " grace_reached_at FROM usage_counters WHERE customer_id = ANY($1::varchar[])"
        ),
        "daily": await rows(
            "SELECT customer_id, metric, day, quantity FROM usage_daily"
            " WHERE customer_id = ANY($1::varchar[])"
        ),
        "events": await rows(
            "SELECT customer_id, idempotency_key, metric, quantity, occurred_at, period_start"
            " FROM usage_events WHERE customer_id = ANY($1::varchar[])"
        ),
        "crossings": await rows(
            'SELECT customer_id, metric, period_start, threshold, used, "limit", crossed_at'
            " FROM usage_threshold_crossings WHERE customer_id = ANY($1::varchar[])"
        ),
    }


@pytest.mark.parametrize("seed", range(6))
async def test_the_statement_answers_and_writes_as_the_per_call_reference(
    sessions: SessionFactory, new_customer: NewCustomer, seed: int
) -> None:
    start, end = month_around()
    twins = [
        [
            await new_customer(
                status="active",
                plan="starter",
                interval="month",
                period_start=start,
                period_end=end,
            )
            for _ in range(2)
        ]
        for _ in range(2)
    ]
    pool = await hot_connection_pool(sessions.kw["bind"])
    rng = random.Random(seed)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with pool.acquire() as connection:
        await connection.execute(reference_definition())
        reference = _CONSUME.replace("usage_consume(", f"{REFERENCE}(")
        seen: set[str] = set()
        for batch_number in range(8):
            calls = random_batch(rng, midnight + timedelta(seconds=batch_number), keys=40)
            answers = [
                [
                    tuple(row)
                    for row in await connection.fetch(sql, *arguments(calls, customers, start))
                ]
                for sql, customers in ((reference, twins[0]), (_CONSUME, twins[1]))
            ]
            assert answers[1] == answers[0], (batch_number, calls)
            for used, recorded, _, crossed in answers[0]:
                seen.add("consumed" if used is not None else "duplicate" if recorded else "refused")
                if crossed:
                    seen.add("crossed")
        assert await table_rows(connection, twins[1]) == await table_rows(connection, twins[0])
    # The batches did consume, refuse, repeat keys and cross thresholds.
    assert seen == {"consumed", "duplicate", "refused", "crossed"}
