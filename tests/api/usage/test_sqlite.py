"""The embedded default (`make run`) keeps usage in SQLite: ingestion, the atomic consume,
add-ons, overrides and history work there too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory, create_engine, session_factory
from db.migrate import migrate
from db.models import UsageCounter, UsageEvent
from tests.factories.apps import api_client
from tests.factories.customers import add_addon, make_customer, set_customer
from tests.factories.settings import ADMIN_KEY, auth, make_settings
from tests.factories.usage import consume as store_consume
from tests.factories.usage import event, ingest, month_around, ok, override, usage


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    url = f"sqlite+aiosqlite:///{tmp_path}/lifecycle.db"
    await migrate(url)
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def sqlite_http(
    sqlite_sessions: SessionFactory, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    url = str(sqlite_sessions.kw["bind"].url)
    settings = make_settings(database_url=url, task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as http:
        yield http


async def test_ingestion_consume_and_history_on_sqlite(
    sqlite_http: httpx.AsyncClient, sqlite_sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    http = sqlite_http
    start, end = month_around()
    cid = await make_customer(
        sqlite_sessions,
        engine_config,
        status="active",
        plan="starter",
        interval="month",
        period_start=start,
        period_end=end,
    )
    other = await make_customer(sqlite_sessions, engine_config)
    result = await ingest(
        http,
        [
            event(cid, "messages", 4, key="a"),
            event(cid, "messages", 4, key="a"),
            event(cid, "tokens", 100, key="b"),
            event(other, "messages", 2, key="a"),
            event(cid, "chatbots", 1, key="c"),
            event(cid, "minutes", 1, key="d"),
        ],
    )
    assert (result["accepted"], result["duplicates"]) == (4, 1)
    assert [r["code"] for r in result["rejected"]] == ["unknown_metric"]
    again = await ingest(http, [event(cid, "messages", 4, key="a")])
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    view = await usage(http, cid)
    assert {m: v["used"] for m, v in view.items()} == {
        "chatbots": 1,
        "messages": 4,
        "tokens": 100,
        "api_calls": 0,
    }
    assert (await usage(http, other))["messages"]["used"] == 2

    # Atomic consume: 30 racing callers against 10 messages (4 used) get exactly 6.
    await override(http, cid, messages=10)

    async def consume(key: str, quantity: int = 1) -> dict:
        response = await http.post(
            f"/v1/customers/{cid}/entitlements/check",
            json={
                "metric": "messages",
                "consume": True,
                "idempotency_key": key,
                "quantity": quantity,
            },
            headers=auth(),
        )
        return ok(response)

    answers = await asyncio.gather(*(consume(f"k{i}") for i in range(30)))
    assert sum(a["allowed"] for a in answers) == 6
    # Which callers win is up to the scheduler; only a granted key is remembered.
    winner = next(f"k{i}" for i, a in enumerate(answers) if a["allowed"])
    retry = await consume(winner)
    assert retry["duplicate"] and (await usage(http, cid))["messages"]["used"] == 10

    # Add-ons raise limits, and a new period starts from zero.
    await add_addon(sqlite_sessions, cid, "extra_chatbot", kind="recurring", quantity=2)
    await add_addon(sqlite_sessions, cid, "message_pack", kind="one_off", period_start=start)
    view = await usage(http, cid)
    assert (view["chatbots"]["limit"], view["messages"]["limit"]) == (5, 10)  # overridden
    await http.delete(f"/v1/admin/customers/{cid}/limits/messages", headers=auth(ADMIN_KEY))
    assert (await usage(http, cid))["messages"]["limit"] == 15_000
    await set_customer(
        sqlite_sessions, cid, current_period_start=end, current_period_end=end + timedelta(30)
    )
    view = await usage(http, cid)
    assert (view["messages"]["used"], view["messages"]["limit"]) == (0, 5000)
    history = ok(
        await http.get(
            f"/v1/customers/{cid}/usage/history", params={"metric": "messages"}, headers=auth()
        )
    )
    assert [p["used"] for p in history["metrics"][0]["periods"]] == [0, 10]
    assert sum(d["quantity"] for d in history["metrics"][0]["daily"]) == 10


async def test_racing_consumes_with_repeated_keys_on_sqlite_consume_each_granted_key_once(
    sqlite_sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    """No overshoot, no lost or phantom consumption: 5 keys, each sent 4 times at once,
    against a ceiling of 10 with quantity 3 (so 3 keys fit)."""
    start, end = month_around()
    cid = await make_customer(
        sqlite_sessions,
        engine_config,
        status="active",
        plan="starter",
        interval="month",
        period_start=start,
        period_end=end,
    )
    keys = [f"k{i % 5}" for i in range(20)]
    outcomes = await asyncio.gather(*(store_consume(sqlite_sessions, cid, k, 3) for k in keys))
    granted = {k for k, o in zip(keys, outcomes, strict=True) if o.result == "consumed"}
    assert len(granted) == 3
    assert sum(o.result == "consumed" for o in outcomes) == 3
    async with sqlite_sessions() as session:
        used = await session.scalar(
            select(UsageCounter.used).where(UsageCounter.customer_id == cid)
        )
        recorded = set(
            await session.scalars(
                select(UsageEvent.idempotency_key).where(UsageEvent.customer_id == cid)
            )
        )
    assert (used, recorded) == (9, granted)
