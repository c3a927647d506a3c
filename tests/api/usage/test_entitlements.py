"""POST /v1/customers/{id}/entitlements/check: states, status rules, atomic consume under
concurrency, idempotent retries, add-ons, overrides and features."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from db.engine import SessionFactory
from db.models import UsageCounter, UsageEvent
from tests.factories.apps import api_client
from tests.factories.customers import NewCustomer, add_addon, set_customer
from tests.factories.responses import Json, ok
from tests.factories.settings import ADMIN_KEY, auth, make_settings, write_config
from tests.factories.usage import check, event, ingest, month_around, override, usage


async def decide(http: httpx.AsyncClient, cid: str, **body: object) -> Json:
    return ok(await check(http, cid, **body))


async def consume(
    http: httpx.AsyncClient, cid: str, metric: str = "messages", **kw: object
) -> Json:
    body = {"metric": metric, "consume": True, "idempotency_key": f"c-{uuid.uuid4()}", **kw}
    return await decide(http, cid, **body)


# -- concurrency ------------------------------------------------------------------------


async def test_50_concurrent_consumes_against_a_limit_of_10_allow_exactly_10(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    cid = await new_customer()
    await override(http, cid, messages=10)
    answers = await asyncio.gather(*(consume(http, cid) for _ in range(50)))
    assert sum(a["allowed"] for a in answers) == 10
    assert sum(a["consumed"] for a in answers) == 10
    assert {a["state"] for a in answers if not a["allowed"]} == {"blocked"}
    assert (await usage(http, cid))["messages"]["used"] == 10
    async with sessions() as session:
        events = list(
            await session.scalars(select(UsageEvent.id).where(UsageEvent.customer_id == cid))
        )
    assert len(events) == 10  # refused consumes leave no event behind


async def test_concurrent_consumes_of_the_chatbots_gauge_never_exceed_it(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()  # starter: 3 chatbots
    answers = await asyncio.gather(*(consume(http, cid, "chatbots") for _ in range(20)))
    assert sum(a["allowed"] for a in answers) == 3
    assert (await usage(http, cid))["chatbots"]["used"] == 3
    # Deleting one frees a slot.
    assert (await consume(http, cid, "chatbots", quantity=-1))["used"] == 2
    assert (await consume(http, cid, "chatbots"))["allowed"]
    assert not (await consume(http, cid, "chatbots"))["allowed"]


async def test_grace_lets_usage_reach_110_percent_but_no_further(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    await override(http, cid, messages=100)
    answers = await asyncio.gather(*(consume(http, cid, quantity=3) for _ in range(50)))
    # 36 x 3 = 108; a 37th would make 111 (>= 110 %: blocked).
    assert sum(a["allowed"] for a in answers) == 36
    assert (await usage(http, cid))["messages"]["used"] == 108
    last = await consume(http, cid, quantity=1)
    assert (last["allowed"], last["used"], last["state"]) == (True, 109, "grace")
    refused = await consume(http, cid, quantity=1)
    assert (refused["allowed"], refused["used"], refused["state"]) == (False, 109, "blocked")


async def test_a_retried_key_consumes_once_also_when_retries_race(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    await override(http, cid, api_calls=1000)
    answers = await asyncio.gather(
        *(consume(http, cid, "api_calls", quantity=5, idempotency_key="once") for _ in range(20))
    )
    assert all(a["allowed"] for a in answers)
    assert sum(a["consumed"] for a in answers) == 1
    assert sum(a["duplicate"] for a in answers) == 19
    assert (await usage(http, cid))["api_calls"]["used"] == 5
    # A key recorded through ingestion is the same key.
    await ingest(http, [event(cid, "api_calls", 7, key="ingested")])
    again = await consume(http, cid, "api_calls", quantity=7, idempotency_key="ingested")
    assert (again["allowed"], again["duplicate"], again["used"]) == (True, True, 12)


async def test_a_retry_after_the_limit_is_reached_answers_the_first_decision(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    await override(http, cid, messages=2)
    first = await consume(http, cid, quantity=2, idempotency_key="k")
    assert first["allowed"]
    assert not (await consume(http, cid, quantity=1))["allowed"]
    retry = await consume(http, cid, quantity=2, idempotency_key="k")
    assert (retry["allowed"], retry["duplicate"], retry["consumed"]) == (True, True, False)
    # A refused key is not remembered: once room is made, the same key can consume.
    refused = await consume(http, cid, quantity=1, idempotency_key="later")
    assert not refused["allowed"]
    await override(http, cid, messages=10)
    assert (await consume(http, cid, quantity=1, idempotency_key="later"))["consumed"]


async def test_ingestion_racing_consumes_still_counts_everything_once(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    cid = await new_customer()
    await override(http, cid, messages=None)
    keys = [f"e-{i}" for i in range(30)]
    await asyncio.gather(
        *(ingest(http, [event(cid, key=k) for k in keys]) for _ in range(5)),
        *(consume(http, cid, idempotency_key=k) for k in keys),
    )
    assert (await usage(http, cid))["messages"]["used"] == 30
    async with sessions() as session:
        [counter] = await session.scalars(
            select(UsageCounter).where(
                UsageCounter.customer_id == cid, UsageCounter.metric == "messages"
            )
        )
    assert counter.used == 30


# -- states -----------------------------------------------------------------------------


async def test_each_degradation_state(http: httpx.AsyncClient, new_customer: NewCustomer) -> None:
    cid = await new_customer()
    await override(http, cid, tokens=100)
    expected = {0: "ok", 79: "ok", 80: "warning", 99: "warning", 100: "grace", 109: "grace"}
    total = 0
    for target, state in expected.items():
        if target > total:
            await ingest(http, [event(cid, "tokens", target - total)])
            total = target
        assert (await usage(http, cid))["tokens"]["state"] == state, target
    # The check reports the state with the quantity applied.
    at_109 = await decide(http, cid, metric="tokens", quantity=1)
    assert (at_109["allowed"], at_109["state"], at_109["used"], at_109["remaining"]) == (
        False,
        "blocked",
        109,
        0,
    )
    # Recording never fails because of a limit.
    await ingest(http, [event(cid, "tokens", 50)])
    view = await usage(http, cid)
    assert (view["tokens"]["used"], view["tokens"]["state"]) == (159, "blocked")
    ok_check = await decide(http, cid, metric="messages", quantity=4000)
    assert (ok_check["allowed"], ok_check["state"], ok_check["limit"]) == (True, "warning", 5000)
    assert ok_check["used"] == 0


async def test_a_check_without_consume_changes_nothing(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    answer = await decide(http, cid, metric="messages", quantity=10)
    assert (answer["allowed"], answer["consumed"], answer["used"]) == (True, False, 0)
    assert (await usage(http, cid))["messages"]["used"] == 0


@pytest.mark.parametrize("status", ["trial_expired", "paused", "canceled"])
async def test_statuses_that_block_consumption(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory, status: str
) -> None:
    start, end = month_around()
    cid = await new_customer(
        status="active", plan="pro", interval="month", period_start=start, period_end=end
    )
    assert (await consume(http, cid, idempotency_key="before"))["allowed"]
    await set_customer(sessions, cid, status=status)
    answer = await consume(http, cid)
    assert (answer["allowed"], answer["consumed"], answer["state"]) == (False, False, "blocked")
    assert not (await decide(http, cid, metric="chatbots"))["allowed"]
    assert {m["state"] for m in (await usage(http, cid)).values()} == {"blocked"}
    # The earlier call's retry still answers its decision; a deletion is not consumption.
    assert (await consume(http, cid, idempotency_key="before"))["allowed"]
    assert (await decide(http, cid, metric="chatbots", quantity=-1))["allowed"]
    # Recording still works (it already happened).
    assert (await ingest(http, [event(cid)]))["accepted"] == 1


async def test_past_due_keeps_access_under_the_full_policy(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    start, end = month_around()
    cid = await new_customer(
        status="past_due", plan="pro", interval="month", period_start=start, period_end=end
    )
    assert (await consume(http, cid))["allowed"]
    assert (await usage(http, cid))["messages"]["state"] == "ok"


async def test_past_due_is_blocked_under_the_read_only_policy(
    database_url: str,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    new_customer: NewCustomer,
) -> None:
    config = write_config(tmp_path, dunning={"access": "read_only"})
    settings = make_settings(database_url=database_url, task_queue=task_queue, config_path=config)
    start, end = month_around()
    cid = await new_customer(
        status="past_due", plan="pro", interval="month", period_start=start, period_end=end
    )
    async with api_client(settings, dev_server_env.client) as http:
        answer = await consume(http, cid)
        assert (answer["allowed"], answer["state"]) == (False, "blocked")
        assert (await usage(http, cid))["messages"]["state"] == "blocked"


# -- add-ons, overrides, features -------------------------------------------------------


async def test_add_ons_raise_limits_at_once(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    start, end = month_around()
    cid = await new_customer(
        status="active", plan="starter", interval="month", period_start=start, period_end=end
    )
    await ingest(http, [event(cid, "chatbots", 1) for _ in range(3)])
    assert not (await decide(http, cid, metric="chatbots"))["allowed"]
    await add_addon(sessions, cid, "extra_chatbot", kind="recurring", quantity=2)
    await add_addon(sessions, cid, "message_pack", kind="one_off", period_start=start)
    await add_addon(
        sessions, cid, "message_pack", kind="one_off", period_start=start - timedelta(days=30)
    )
    await add_addon(sessions, cid, "api_rate_boost", kind="feature")
    await add_addon(sessions, cid, "extra_chatbot", kind="recurring", quantity=9, active=False)
    view = await usage(http, cid)
    assert {m: v["limit"] for m, v in view.items()} == {
        "chatbots": 5,
        "messages": 15_000,
        "tokens": 2_000_000,
        "api_calls": 60_000,
    }
    answers = await asyncio.gather(*(consume(http, cid, "chatbots") for _ in range(5)))
    assert sum(a["allowed"] for a in answers) == 2


async def test_admin_overrides_raise_lower_and_lift_limits(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer(status="active", plan="enterprise", interval="month")
    body = await override(http, cid, messages=1_000_000, chatbots=40, tokens=None)
    assert body["overrides"] == {"chatbots": 40, "messages": 1_000_000, "tokens": None}
    assert body["limits"]["chatbots"] == 40
    assert body["limits"]["tokens"] is None
    view = await usage(http, cid)
    assert (view["messages"]["limit"], view["tokens"]["limit"]) == (1_000_000, None)
    await override(http, cid, messages=1)
    assert (await decide(http, cid, metric="messages", quantity=2))["allowed"] is False
    removed = ok(
        await http.delete(f"/v1/admin/customers/{cid}/limits/messages", headers=auth(ADMIN_KEY))
    )
    assert removed["overrides"] == {"chatbots": 40, "tokens": None}
    assert removed["limits"]["messages"] is None  # enterprise: per contract


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"minutes": 5}, "minutes"),
        ({"messages": -1}, "messages"),
        ({"messages": "lots"}, "messages"),
        ({"messages": 1.5}, "messages"),
        ({"messages": True}, "messages"),
        ({"messages": 2**70}, "messages"),
        ({}, "body"),
    ],
)
async def test_override_validation_names_the_key(
    http: httpx.AsyncClient, new_customer: NewCustomer, body: Json, field: str
) -> None:
    cid = await new_customer()
    response = await http.put(
        f"/v1/admin/customers/{cid}/limits", json=body, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_overrides_need_the_admin_scope(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    cid = await new_customer()
    response = await http.put(f"/v1/admin/customers/{cid}/limits", json={}, headers=auth())
    assert response.status_code == 403
    missing = await http.put(
        f"/v1/admin/customers/{uuid.uuid4()}/limits",
        json={"messages": 1},
        headers=auth(ADMIN_KEY),
    )
    assert missing.status_code == 404


async def test_features_on_and_off(
    http: httpx.AsyncClient, new_customer: NewCustomer, sessions: SessionFactory
) -> None:
    cid = await new_customer(status="active", plan="pro", interval="month")
    assert await decide(http, cid, feature="premium_support") == {
        "feature": "premium_support",
        "allowed": False,
    }
    await add_addon(sessions, cid, "premium_support", kind="feature")
    await add_addon(sessions, cid, "branding_removal", kind="feature", active=False)
    assert (await decide(http, cid, feature="premium_support"))["allowed"]
    assert not (await decide(http, cid, feature="branding_removal"))["allowed"]
    body = ok(await http.get(f"/v1/customers/{cid}/usage", headers=auth()))
    assert body["features"] == ["premium_support"]
    await set_customer(sessions, cid, status="canceled")
    assert not (await decide(http, cid, feature="premium_support"))["allowed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "minutes"}, "metric"),
        ({}, "metric"),
        ({"metric": "messages", "quantity": 0}, "quantity"),
        ({"metric": "messages", "quantity": -1}, "quantity"),
        ({"metric": "messages", "quantity": "1"}, "quantity"),
        ({"metric": "chatbots", "quantity": 0}, "quantity"),
        ({"metric": "tokens", "quantity": 10**13}, "quantity"),
        ({"metric": "messages", "consume": True}, "idempotency_key"),
        ({"feature": "teleportation"}, "feature"),
        ({"feature": "premium_support", "metric": "messages"}, "feature"),
        ({"metric": "messages", "colour": "blue"}, "colour"),
    ],
)
async def test_check_validation_names_the_field(
    http: httpx.AsyncClient, new_customer: NewCustomer, body: Json, field: str
) -> None:
    cid = await new_customer()
    response = await check(http, cid, **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_unknown_customer_is_404(http: httpx.AsyncClient) -> None:
    response = await check(http, str(uuid.uuid4()), metric="messages")
    assert response.status_code == 404
    assert (
        await http.get(f"/v1/customers/{uuid.uuid4()}/usage", headers=auth())
    ).status_code == 404


async def test_the_answer_suggests_an_upgrade_when_the_forecast_exceeds_the_limit(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    start, end = month_around()  # 10 of 30 days gone
    cid = await new_customer(
        status="active", plan="starter", interval="month", period_start=start, period_end=end
    )
    await ingest(http, [event(cid, "messages", 2000), event(cid, "api_calls", 4000)])
    answer = await decide(http, cid, metric="messages")
    upgrade = answer["upgrade"]
    assert upgrade["reason"] == "forecast"
    assert upgrade["metrics"] == ["messages", "api_calls"]
    assert (upgrade["plan"], upgrade["price_difference_cents"]) == ("pro", 7000)
    view = ok(await http.get(f"/v1/customers/{cid}/usage", headers=auth()))
    assert view["upgrade"]["plan"] == "pro"
    forecasts = {m["metric"]: m["forecast"] for m in view["metrics"]}
    assert 5900 <= forecasts["messages"] <= 6000  # 2,000 in 10 of 30 days
    quiet = await new_customer(
        status="active", plan="starter", interval="month", period_start=start, period_end=end
    )
    assert (await decide(http, quiet, metric="messages"))["upgrade"] is None
