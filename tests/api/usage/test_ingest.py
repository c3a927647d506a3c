"""POST /v1/usage: per-event validation, idempotency (also under concurrency), counters,
periods and the gauge."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from db.engine import SessionFactory
from db.models import LimitOverride, UsageCounter, UsageEvent, UsageThresholdCrossing
from domain.limits import GAUGE_PERIOD_START
from tests.factories.customers import NewCustomer, set_customer
from tests.factories.responses import ok
from tests.factories.settings import auth
from tests.factories.usage import event, ingest, month_around, usage


async def test_valid_events_are_recorded_and_bad_ones_rejected_one_by_one(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    events: list[object] = [
        event(cid, "messages", 5, key="a"),
        event(cid, "tokens", 1200, key="b"),
        event(str(uuid.uuid4()), "messages", 1, key="c"),  # unknown customer
        event(cid, "minutes", 1, key="d"),  # unknown metric
        event(cid, "messages", 0, key="e"),  # counters need a positive quantity
        event(cid, "messages", -3, key="f"),
        event(cid, "messages", 1.5, key="g"),  # type: ignore[arg-type]
        {"customer_id": cid, "metric": "messages", "quantity": 1},  # no key
        event(cid, "chatbots", 0, key="h"),  # the gauge needs +1 / -1
        event(cid, "chatbots", 1, key="i"),
        event(cid, "api_calls", 7, key="j", occurred_at="yesterday"),
        event(cid, "api_calls", 7, key="k", occurred_at="2026-01-01T00:00:00"),  # naive
        "not an object",
        event(cid, "api_calls", 2, key="l", colour="blue"),
        event(cid, "messages", True, key="m"),
        event(cid, "tokens", 10**13, key="o"),  # more than a counter should take at once
        event(cid, "api_calls", 3, key="n", occurred_at=datetime.now(UTC).isoformat()),
    ]
    result = await ingest(http, events)
    assert result["accepted"] == 4
    assert result["duplicates"] == 0
    rejected = {r["index"]: (r["code"], r["idempotency_key"]) for r in result["rejected"]}
    assert rejected == {
        2: ("unknown_customer", "c"),
        3: ("unknown_metric", "d"),
        4: ("invalid_quantity", "e"),
        5: ("invalid_quantity", "f"),
        6: ("invalid_quantity", "g"),
        7: ("invalid_idempotency_key", None),
        8: ("invalid_quantity", "h"),
        10: ("invalid_occurred_at", "j"),
        11: ("invalid_occurred_at", "k"),
        12: ("invalid_event", None),
        13: ("invalid_event", "l"),
        14: ("invalid_quantity", "m"),
        15: ("invalid_quantity", "o"),
    }
    assert all(r["reason"] for r in result["rejected"])
    metrics = await usage(http, cid)
    assert {m: v["used"] for m, v in metrics.items()} == {
        "chatbots": 1,
        "messages": 5,
        "tokens": 1200,
        "api_calls": 3,
    }


async def test_an_empty_or_null_occurred_at_in_a_batch_of_known_customers(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    """Null means "when recorded"; an empty string is no timestamp (the batch's columns
    are built in one step only when no event carries one)."""
    cid = await new_customer()
    result = await ingest(
        http,
        [
            event(cid, key="a"),
            event(cid, key="b", occurred_at=None),
            event(cid, key="c", occurred_at=""),
            event(cid, key="d", occurred_at=0),
        ],
    )
    assert result["accepted"] == 2
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (2, "invalid_occurred_at"),
        (3, "invalid_occurred_at"),
    ]


async def test_batch_size_is_validated_naming_events(http: httpx.AsyncClient) -> None:
    bodies: list[dict[str, object]] = [{"events": []}, {"events": [{}] * 1001}, {}, {"events": "x"}]
    for body in bodies:
        response = await http.post("/v1/usage", json=body, headers=auth())
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["events"]
    assert (await http.post("/v1/usage", json={"events": [{}]})).status_code == 401


async def test_a_repeated_key_counts_once_within_and_across_requests(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    first = await ingest(http, [event(cid, quantity=10, key="x"), event(cid, quantity=10, key="x")])
    assert (first["accepted"], first["duplicates"]) == (1, 1)
    again = await ingest(http, [event(cid, quantity=10, key="x"), event(cid, key="y")])
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    assert (await usage(http, cid))["messages"]["used"] == 11


async def test_concurrent_requests_with_the_same_keys_count_each_key_once(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    customers = [await new_customer() for _ in range(3)]
    # 20 requests race with the same 60 events (shuffled differently), 3 customers.
    events = [event(c, "tokens", 7, key=f"key-{i}") for i in range(20) for c in customers]
    batches = [events[i:] + events[:i] for i in range(0, 20 * 3, 3)]
    results = await asyncio.gather(*(ingest(http, batch) for batch in batches))
    assert sum(r["accepted"] for r in results) == 60
    assert sum(r["duplicates"] for r in results) == 60 * 19
    for cid in customers:
        assert (await usage(http, cid))["tokens"]["used"] == 20 * 7
        async with sessions() as session:
            keys = await session.scalars(
                select(UsageEvent.idempotency_key).where(UsageEvent.customer_id == cid)
            )
            assert len(list(keys)) == 20


async def test_the_same_key_for_two_customers_is_two_events(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    a, b = await new_customer(), await new_customer()
    result = await ingest(http, [event(a, key="shared"), event(b, key="shared")])
    assert result["accepted"] == 2


async def test_counters_follow_the_billing_period_and_roll_over(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    start, end = month_around()
    cid = await new_customer(
        status="active", plan="pro", interval="month", period_start=start, period_end=end
    )
    await ingest(http, [event(cid, "messages", 700), event(cid, "chatbots", 1)])
    before = await usage(http, cid)
    assert before["messages"]["used"] == 700
    assert before["messages"]["period_start"] == start.isoformat().replace("+00:00", "Z")
    # The workflow renews: the read model's period moves on, counters start from zero;
    # the chatbots gauge is a level and carries over.
    await set_customer(
        sessions, cid, current_period_start=end, current_period_end=end + (end - start)
    )
    after = await usage(http, cid)
    assert after["messages"]["used"] == 0
    assert after["chatbots"]["used"] == 1
    await ingest(http, [event(cid, "messages", 5), event(cid, "chatbots", -1)])
    after = await usage(http, cid)
    assert (after["messages"]["used"], after["chatbots"]["used"]) == (5, 0)
    async with sessions() as session:
        rows = {
            (r.metric, r.period_start): r.used
            for r in await session.scalars(
                select(UsageCounter).where(UsageCounter.customer_id == cid)
            )
        }
    assert rows == {
        ("messages", start): 700,
        ("messages", end): 5,
        ("chatbots", GAUGE_PERIOD_START): 0,
    }


async def test_trial_usage_counts_in_the_trial_window(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    await ingest(http, [event(cid, "api_calls", 3)])
    body = ok(await http.get(f"/v1/customers/{cid}/usage", headers=auth()))
    start = datetime.fromisoformat(body["period_start"])
    end = datetime.fromisoformat(body["period_end"])
    assert end - start == timedelta(days=14)
    assert {m["metric"]: m["used"] for m in body["metrics"]}["api_calls"] == 3


async def test_history_has_period_totals_and_a_daily_series(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    start, end = month_around()
    cid = await new_customer(
        status="active", plan="starter", interval="month", period_start=start, period_end=end
    )
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    await ingest(
        http,
        [
            event(cid, "messages", 10, occurred_at=yesterday.isoformat()),
            event(cid, "messages", 5, occurred_at=yesterday.isoformat()),
            event(cid, "messages", 1),
        ],
    )
    await set_customer(
        sessions, cid, current_period_start=end, current_period_end=end + (end - start)
    )
    await ingest(http, [event(cid, "messages", 2)])
    response = await http.get(
        f"/v1/customers/{cid}/usage/history",
        params={"metric": "messages", "periods": 3},
        headers=auth(),
    )
    body = ok(response)
    [history] = body["metrics"]
    assert history["metric"] == "messages"
    assert [(p["used"], p["current"]) for p in history["periods"]] == [(2, True), (16, False)]
    assert [(d["day"], d["quantity"]) for d in history["daily"]] == [
        (yesterday.date().isoformat(), 15),
        (today.date().isoformat(), 3),
    ]
    every = ok(await http.get(f"/v1/customers/{cid}/usage/history", headers=auth()))
    assert [m["metric"] for m in every["metrics"]] == [
        "chatbots",
        "messages",
        "tokens",
        "api_calls",
    ]
    bad = await http.get(
        f"/v1/customers/{cid}/usage/history", params={"metric": "minutes"}, headers=auth()
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["metric"]
    zero = await http.get(
        f"/v1/customers/{cid}/usage/history", params={"periods": 0}, headers=auth()
    )
    assert zero.status_code == 422
    assert [e["field"] for e in zero.json()["errors"]] == ["periods"]
    gauge = ok(
        await http.get(
            f"/v1/customers/{cid}/usage/history", params={"metric": "chatbots"}, headers=auth()
        )
    )
    assert gauge["metrics"][0]["periods"] == [
        {
            "period_start": None,
            "period_end": None,
            "used": 0,
            "current": True,
            "grace_reached_at": None,
        }
    ]


# -- contexts kept in memory ---------------------------------------------------------------


async def crossings_of(sessions: SessionFactory, cid: str) -> list[tuple[int, int]]:
    """The messages counter's threshold crossings: (threshold, limit)."""
    async with sessions() as session:
        rows = await session.execute(
            select(UsageThresholdCrossing.threshold, UsageThresholdCrossing.limit)
            .where(
                UsageThresholdCrossing.customer_id == cid,
                UsageThresholdCrossing.metric == "messages",
            )
            .order_by(UsageThresholdCrossing.threshold)
        )
    return [(int(t), int(lim)) for t, lim in rows]


async def test_a_kept_context_is_never_used_after_its_limits_change(
    http: httpx.AsyncClient, sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    """The API keeps contexts in memory; a limit set by another path (here: SQL, as another
    process would) makes the next batch plan again on the new limit, and the rejections of
    a batch planned twice are listed once."""
    start, end = month_around()
    cid = await new_customer(
        status="active", plan="starter", interval="month", period_start=start, period_end=end
    )
    assert (await ingest(http, [event(cid, key="kept")]))["accepted"] == 1
    async with sessions.begin() as session:
        session.add(
            LimitOverride(
                customer_id=cid, metric="messages", value=10, actor="test", updated_at=start
            )
        )
    result = await ingest(
        http,
        [
            event(cid, "messages", 8, key="after"),
            event(str(uuid.uuid4()), key="nobody"),
            event(cid, key="late", occurred_at="2026-01-01T00:00:00"),
        ],
    )
    assert result["accepted"] == 1
    assert sorted(r["code"] for r in result["rejected"]) == [
        "invalid_occurred_at",
        "unknown_customer",
    ]
    # 1 + 8 of 10: the 80 % notice, against the override (the plan allows 5,000).
    assert await crossings_of(sessions, cid) == [(80, 10)]
    # Into the grace band: its mark is set; the chatbots gauge at its limit has none.
    await ingest(
        http, [event(cid, "messages", 2, key="grace"), *(event(cid, "chatbots") for _ in range(3))]
    )
    assert await crossings_of(sessions, cid) == [(80, 10), (100, 10)]
    async with sessions() as session:
        marks = dict(
            (
                await session.execute(
                    select(UsageCounter.metric, UsageCounter.grace_reached_at).where(
                        UsageCounter.customer_id == cid
                    )
                )
            ).all()
        )
    assert marks["messages"] is not None
    assert marks["chatbots"] is None
