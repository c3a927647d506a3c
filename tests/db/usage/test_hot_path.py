"""The PostgreSQL hot paths at the store: check-and-consume as one statement (the counter's
lock held for that statement only, the decision on the latest row, a racing key rolled back
whole), the batch statement's arguments, and the hot paths' own connection pool."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import asyncpg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from db.engine import SessionFactory, create_engine
from db.models import UsageCounter, UsageEvent, UsageThresholdCrossing
from db.usage.consume import ConsumeOutcome, check_and_consume
from db.usage.consume import _Call as Call
from db.usage.consume import _queue_of as consume_queue
from db.usage.context import load_contexts
from db.usage.history import daily_totals
from db.usage.ingest import EventBatch, IngestPlan, ingest_batch, pg_ingest_arguments
from db.usage.pool import connect_kwargs, hot_connection_pool
from domain.limits import GAUGE_PERIOD_START, ceiling
from tests.factories.customers import NewCustomer
from tests.factories.usage import LIMIT, consume, month_around, spec_for


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


async def test_a_key_racing_an_uncommitted_twin_waits_for_it_and_is_a_duplicate(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    assert (await consume(sessions, cid, "first", 2)).result == "consumed"
    now = datetime.now(UTC)
    async with sessions() as other:
        # The same key in flight elsewhere: not in the consume's snapshot, so the consume's
        # event insert waits for it on the unique index, then finds it recorded.
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
    # No phantom consumption: the counter was never raised.
    assert outcome.used == 2
    async with sessions() as session:
        used = await session.scalar(
            select(UsageCounter.used).where(
                UsageCounter.customer_id == cid, UsageCounter.metric == "messages"
            )
        )
    assert used == 2


async def test_a_writer_holding_the_key_then_the_counter_does_not_deadlock_a_consume(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    """An ingest takes event keys, then counters; so does a consume (it used to take its
    counter first, and the same key in both at once deadlocked). Whichever order they
    commit in, the key counts once; should PostgreSQL still pick one to break a deadlock,
    the statement runs again (``retry_deadlock``)."""
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
    outcome = await check_and_consume(
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
        period_ends={("c", start): now},
    )
    arguments = pg_ingest_arguments(events, [], now, {"c": 0})
    assert arguments[4] == [None, now]  # NULL: the recording time
    assert (arguments[6], arguments[7], arguments[8]) == (["c"], [start], [now])
    assert [r.occurred_at for r in events.rows(now)] == [now, now]
    assert [r.period_start for r in events.rows(now)] == [start, GAUGE_PERIOD_START]
    events.occurred = [None, None]
    assert pg_ingest_arguments(events, [], now, {"c": 0})[4] is None
    events.period_ends[("c", now)] = now + timedelta(days=30)
    with pytest.raises(ValueError, match="one usage period per customer"):
        pg_ingest_arguments(events, [], now, {"c": 0})


def test_the_hot_pool_connects_as_the_engine_would() -> None:
    engine = create_engine(
        "postgresql+asyncpg://u:p@db.example:6543/app?ssl=require&prepared_statement_cache_size=7"
    )
    assert connect_kwargs(engine) == {
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
    pool = await hot_connection_pool(engine)
    assert pool is await hot_connection_pool(engine)
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
        usage = (await load_contexts(session, [cid]))[cid]
    period = usage.period(now)
    earlier = now - timedelta(days=2)
    events = EventBatch(
        customer_ids=[cid, cid],
        metrics=["messages", "messages"],
        quantities=[1, 2],
        keys=[f"k-{uuid.uuid4()}", f"k-{uuid.uuid4()}"],
        occurred=[None, earlier],
        period_ends={(cid, period.start): period.end},
    )
    outcome = await ingest_batch(
        sessions, [cid], lambda _: IngestPlan(events=events, limits=[]), now
    )
    assert outcome.accepted == 2
    async with sessions() as session:
        occurred = sorted(
            await session.scalars(
                select(UsageEvent.occurred_at).where(UsageEvent.customer_id == cid)
            )
        )
        days = await daily_totals(session, cid, "messages", earlier.date())
    assert occurred == [earlier, now]
    assert days == [(earlier.date(), 2), (now.date(), 1)]


async def test_calls_sent_together_are_decided_in_arrival_order_each_on_its_counter(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    one, other = await active_customer(new_customer), await active_customer(new_customer)
    now = datetime.now(UTC)
    queue = consume_queue(sessions.kw["bind"])
    loop = asyncio.get_running_loop()

    def call(cid: str, key: str, quantity: int) -> Call:
        return Call(cid, lambda usage: spec_for(usage, key, quantity, now), loop.create_future())

    calls = [
        call(one, "a", 6),
        call(other, "a", 6),
        call(one, "b", 4),  # to the limit's ceiling
        call(one, "c", 3),  # refused: past the ceiling after "a" and "b"
        call(one, "a", 6),  # the same key again: a duplicate of the first
        call("nobody", "a", 1),
    ]
    answers = await queue.run(calls)
    assert all(isinstance(o, ConsumeOutcome) for o in answers)
    outcomes = cast(list[ConsumeOutcome], answers)
    assert [(o.result, o.used) for o in outcomes[:5]] == [
        ("consumed", 6),
        ("consumed", 6),
        ("consumed", ceiling("messages", LIMIT)),
        ("refused", ceiling("messages", LIMIT)),
        ("duplicate", ceiling("messages", LIMIT)),
    ]
    assert outcomes[5].context is None
    assert [c.threshold for c in outcomes[2].crossings] == [80, 100]
    assert await events_of(sessions, one) == 2


async def test_a_call_the_database_refuses_fails_alone_not_its_batch(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    cid = await active_customer(new_customer)
    now = datetime.now(UTC)
    queue = consume_queue(sessions.kw["bind"])
    loop = asyncio.get_running_loop()
    # Longer than the key column: PostgreSQL refuses the value (the API's edge would have).

    def call(key: str) -> Call:
        return Call(cid, lambda usage: spec_for(usage, key, 1, now), loop.create_future())

    calls = [call("fine"), call("k" * 300)]
    fine, refused = await queue.run(calls)
    # The batch was retried call by call: the good call was decided, the bad one failed
    # on its own.
    assert isinstance(fine, ConsumeOutcome)
    assert (fine.result, fine.used) == ("consumed", 1)
    assert isinstance(refused, asyncpg.DataError)
    assert await events_of(sessions, cid) == 1
