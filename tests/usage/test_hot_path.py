"""The PostgreSQL hot paths at the store: check-and-consume as one statement (the counter's
lock held for that statement only, the decision on the latest row, a racing key rolled back
whole), the batch statement's arguments, and the hot paths' own connection pool."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from db import usage as store
from db.engine import SessionFactory, create_engine
from db.models import UsageCounter, UsageEvent, UsageThresholdCrossing
from db.usage import ConsumeOutcome, ConsumeSpec, EventBatch, EventRow, UsageContext
from domain.limits import GAUGE_PERIOD_START, ceiling
from tests.usage.support import NewCustomer, month_around

LIMIT = 10


def spec_for(
    usage: UsageContext, key: str, quantity: int, now: datetime, limit: int | None = LIMIT
) -> ConsumeSpec:
    period = usage.period(now)
    return ConsumeSpec(
        event=EventRow(
            customer_id=usage.customer_id,
            metric="messages",
            quantity=quantity,
            idempotency_key=key,
            occurred_at=now,
            period_start=period.start,
            period_end=period.end,
        ),
        ceiling=None if limit is None else ceiling("messages", limit),
        blocked=False,
        limit=limit,
        notice_period_start=period.start,
    )


async def consume(
    sessions: SessionFactory, cid: str, key: str, quantity: int = 1
) -> ConsumeOutcome:
    now = datetime.now(UTC)
    return await store.check_and_consume(
        sessions, cid, lambda usage: spec_for(usage, key, quantity, now), now
    )


async def events_of(sessions: SessionFactory, cid: str) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(UsageEvent).where(UsageEvent.customer_id == cid)
            )
            or 0
        )


async def active_customer(new_customer: NewCustomer) -> str:
    start, end = month_around()
    return await new_customer(
        status="active", plan="starter", interval="month", period_start=start, period_end=end
    )


async def test_a_consume_waits_for_a_locked_counter_and_decides_on_the_latest_row(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    assert (await consume(sessions, cid, "first", 9)).result == "consumed"
    top = ceiling("messages", LIMIT)
    async with sessions() as other:
        # Another writer holds the counter row, taking it to the ceiling.
        await other.execute(
            update(UsageCounter)
            .where(UsageCounter.customer_id == cid, UsageCounter.metric == "messages")
            .values(used=top)
        )
        waiting = asyncio.create_task(consume(sessions, cid, "second"))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # queued on the row lock, not deciding on a stale read
        await other.commit()
    outcome = await waiting
    assert (outcome.result, outcome.used) == ("refused", top)
    assert await events_of(sessions, cid) == 1  # the refused key left nothing behind
    assert (await consume(sessions, cid, "second")).result == "refused"


async def test_a_key_racing_an_uncommitted_twin_rolls_back_whole_and_is_a_duplicate(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    assert (await consume(sessions, cid, "first", 2)).result == "consumed"
    now = datetime.now(UTC)
    async with sessions() as other:
        # The same key in flight elsewhere: not in the consume's snapshot, so the consume
        # raises the counter, then meets the key on the unique index.
        other.add(
            UsageEvent(
                customer_id=cid,
                metric="messages",
                quantity=1,
                idempotency_key="twin",
                occurred_at=now,
                period_start=now,
                recorded_at=now,
            )
        )
        await other.flush()
        racing = asyncio.create_task(consume(sessions, cid, "twin"))
        await asyncio.sleep(0.3)
        assert not racing.done()
        await other.commit()
    outcome = await racing
    assert outcome.result == "duplicate"
    # No phantom consumption: the counter raise went with the failed insert.
    assert outcome.used == 2
    async with sessions() as session:
        used = await session.scalar(
            select(UsageCounter.used).where(
                UsageCounter.customer_id == cid, UsageCounter.metric == "messages"
            )
        )
    assert used == 2


async def test_a_deadlock_with_a_writer_of_the_same_key_is_retried_not_answered_500(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    """An ingest takes event keys, then counters; a consume its counter, then its key. The
    same key in both at once deadlocks; PostgreSQL breaks it (after deadlock_timeout) and
    the consume, if chosen, runs again."""
    cid = await active_customer(new_customer)
    assert (await consume(sessions, cid, "first", 2)).result == "consumed"
    now = datetime.now(UTC)
    writer_won = False
    async with sessions() as other:
        other.add(
            UsageEvent(
                customer_id=cid,
                metric="messages",
                quantity=1,
                idempotency_key="shared",
                occurred_at=now,
                period_start=now,
                recorded_at=now,
            )
        )
        await other.flush()
        racing = asyncio.create_task(consume(sessions, cid, "shared"))
        await asyncio.sleep(0.3)  # the consume holds the counter and waits for the key
        try:
            await other.execute(
                update(UsageCounter)
                .where(UsageCounter.customer_id == cid, UsageCounter.metric == "messages")
                .values(used=UsageCounter.used + 1)
            )
            await other.commit()
            writer_won = True
        except DBAPIError as exc:
            assert "deadlock" in str(exc)
            await other.rollback()
    outcome = await racing
    async with sessions() as session:
        used = await session.scalar(
            select(UsageCounter.used).where(
                UsageCounter.customer_id == cid, UsageCounter.metric == "messages"
            )
        )
    if writer_won:
        assert (outcome.result, used) == ("duplicate", 3)
    else:
        assert (outcome.result, used) == ("consumed", 3)
    assert await events_of(sessions, cid) == 2


async def test_concurrent_retries_of_one_key_consume_once(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    outcomes = await asyncio.gather(*(consume(sessions, cid, "same", 3) for _ in range(12)))
    assert sorted(o.result for o in outcomes) == ["consumed"] + ["duplicate"] * 11
    assert {o.used for o in outcomes} == {3}
    assert await events_of(sessions, cid) == 1


async def test_the_consume_statement_records_crossings_and_the_grace_mark(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    first = await consume(sessions, cid, "a", 7)
    assert (first.result, first.crossings) == ("consumed", [])
    eighty = await consume(sessions, cid, "b", 1)
    assert [c.threshold for c in eighty.crossings] == [80]
    full = await consume(sessions, cid, "c", 2)
    assert [(c.threshold, c.used, c.limit) for c in full.crossings] == [(100, 10, LIMIT)]
    # Crossing again (a duplicate row) is nobody's to signal.
    assert (await consume(sessions, cid, "d", 1)).crossings == []
    async with sessions() as session:
        thresholds = list(
            await session.scalars(
                select(UsageThresholdCrossing.threshold)
                .where(UsageThresholdCrossing.customer_id == cid)
                .order_by(UsageThresholdCrossing.threshold)
            )
        )
        grace = await session.scalar(
            select(UsageCounter.grace_reached_at).where(
                UsageCounter.customer_id == cid, UsageCounter.metric == "messages"
            )
        )
    assert thresholds == [80, 100]
    assert grace is not None


async def test_an_unlimited_consume_crosses_nothing_and_keeps_no_grace(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    now = datetime.now(UTC)
    outcome = await store.check_and_consume(
        sessions, cid, lambda usage: spec_for(usage, "u", 10**6, now, limit=None), now
    )
    assert (outcome.result, outcome.used, outcome.crossings) == ("consumed", 10**6, [])
    async with sessions() as session:
        grace = await session.scalar(
            select(UsageCounter.grace_reached_at).where(UsageCounter.customer_id == cid)
        )
    assert grace is None


def test_the_batch_statement_takes_one_period_per_customer() -> None:
    now = datetime.now(UTC)
    start = now - timedelta(days=1)
    events = EventBatch(
        customer_ids=["c", "c"],
        metrics=["messages", "chatbots"],
        quantities=[1, 1],
        keys=["a", "b"],
        occurred=[None, now],
        period_starts=[start, GAUGE_PERIOD_START],
        period_ends={("c", start): now},
    )
    arguments = store.pg_ingest_arguments(events, [], now)
    assert arguments[4] == [None, now]  # NULL: the recording time
    assert (arguments[6], arguments[7], arguments[8]) == (["c"], [start], [now])
    assert [r.occurred_at for r in events.rows(now)] == [now, now]
    events.period_ends[("c", now)] = now + timedelta(days=30)
    with pytest.raises(ValueError, match="one usage period per customer"):
        store.pg_ingest_arguments(events, [], now)


def test_the_hot_pool_connects_as_the_engine_would() -> None:
    engine = create_engine(
        "postgresql+asyncpg://u:p@db.example:6543/app?ssl=require&prepared_statement_cache_size=7"
    )
    assert store._connect_kwargs(engine) == {
        "host": "db.example",
        "port": 6543,
        "database": "app",
        "user": "u",
        "password": "p",
        "ssl": "require",
        "statement_cache_size": 7,
    }


async def test_the_hot_pool_goes_with_its_engine(database_url: str) -> None:
    engine = create_engine(database_url)
    pool = await store.hot_connection_pool(engine)
    assert pool is await store.hot_connection_pool(engine)
    async with pool.acquire() as connection:
        assert await connection.fetchval("SELECT 1") == 1
    await engine.dispose()
    assert pool.is_closing()


async def test_occurred_at_sets_the_day_and_defaults_to_the_recording_time(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    now = datetime.now(UTC)
    async with sessions() as session:
        usage = (await store.load_contexts(session, [cid]))[cid]
    period = usage.period(now)
    earlier = now - timedelta(days=2)
    events = EventBatch(
        customer_ids=[cid, cid],
        metrics=["messages", "messages"],
        quantities=[1, 2],
        keys=[f"k-{uuid.uuid4()}", f"k-{uuid.uuid4()}"],
        occurred=[None, earlier],
        period_starts=[period.start, period.start],
        period_ends={(cid, period.start): period.end},
    )
    outcome = await store.ingest_batch(
        sessions, [cid], lambda _: store.IngestPlan(events=events, limits=[]), now
    )
    assert [(c.used, c.events) for c in outcome.changes] == [(3, 2)]
    async with sessions() as session:
        occurred = sorted(
            await session.scalars(
                select(UsageEvent.occurred_at).where(UsageEvent.customer_id == cid)
            )
        )
        days = await store.daily_totals(session, cid, "messages", earlier.date())
    assert occurred == [earlier, now]
    assert days == [(earlier.date(), 2), (now.date(), 1)]
