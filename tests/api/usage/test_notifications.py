"""Threshold notifications end to end: the API signals the customer's real workflow (dev
server + worker), which sends usage_warning / usage_limit_reached once per metric and
period, also when many requests cross the line at the same time."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from core.temporal import DATA_CONVERTER
from db.engine import SessionFactory
from db.models import UsageCounter, UsageThresholdCrossing
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.histories import record_customer_history
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.responses import Json, ok
from tests.factories.settings import auth, make_settings
from tests.factories.usage import event, ingest, override
from tests.factories.workers import make_worker
from workers.worker import run_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

USAGE_TEMPLATES = {"usage_warning", "usage_limit_reached"}


@pytest.fixture
async def live(
    database_url: str,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    worker = make_worker(
        dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    )
    async with worker, api_client(settings, dev_server_env.client) as http:
        yield http


async def sign_up(http: httpx.AsyncClient, sessions: SessionFactory) -> str:
    created = ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        ),
        201,
    )
    cid = str(created["id"])
    await eventually(lambda: outbox(sessions, cid), lambda rows: len(rows) >= 1)  # welcome
    return cid


async def usage_emails(sessions: SessionFactory, cid: str) -> Counter[str]:
    return Counter(r.template for r in await outbox(sessions, cid) if r.template in USAGE_TEMPLATES)


async def notifications(http: httpx.AsyncClient, cid: str) -> Counter[str]:
    body = ok(await http.get(f"/v1/customers/{cid}/notifications", headers=auth()))
    return Counter(n["kind"] for n in body["data"] if n["kind"] in USAGE_TEMPLATES)


async def stays(probe: object, expected: object, seconds: float = 2.0) -> None:
    """Nothing more arrives for a while."""
    for _ in range(int(seconds / 0.25)):
        assert await probe() == expected  # type: ignore[operator]
        await asyncio.sleep(0.25)


async def consume(http: httpx.AsyncClient, cid: str) -> Json:
    response = await http.post(
        f"/v1/customers/{cid}/entitlements/check",
        json={"metric": "messages", "consume": True, "idempotency_key": str(uuid.uuid4())},
        headers=auth(),
    )
    return ok(response)


async def test_thresholds_notify_once_per_period_under_concurrent_crossings(
    live: httpx.AsyncClient, sessions: SessionFactory, dev_server_env: WorkflowEnvironment
) -> None:
    http = live
    cid = await sign_up(http, sessions)
    await override(http, cid, messages=10)

    # 9 requests race from 0 to 9 messages: exactly one of them crosses 80 % (8 of 10).
    await asyncio.gather(
        *(ingest(http, [event(cid)]) for _ in range(5)), *(consume(http, cid) for _ in range(4))
    )
    await eventually(lambda: usage_emails(sessions, cid), lambda c: c["usage_warning"] == 1)

    # 20 more race past 100 %: one limit-reached notice; the 80 % one is not repeated.
    await asyncio.gather(
        *(ingest(http, [event(cid)]) for _ in range(10)), *(consume(http, cid) for _ in range(10))
    )
    expected = Counter({"usage_warning": 1, "usage_limit_reached": 1})
    await eventually(lambda: usage_emails(sessions, cid), lambda c: c == expected)
    await eventually(lambda: notifications(http, cid), lambda c: c == expected)

    # Further usage in the same period sends nothing more.
    await asyncio.gather(*(ingest(http, [event(cid, quantity=5)]) for _ in range(10)))
    await stays(lambda: usage_emails(sessions, cid), expected)

    async with sessions() as session:
        crossings = list(
            await session.scalars(
                select(UsageThresholdCrossing).where(UsageThresholdCrossing.customer_id == cid)
            )
        )
        [counter] = await session.scalars(
            select(UsageCounter).where(
                UsageCounter.customer_id == cid, UsageCounter.metric == "messages"
            )
        )
    assert sorted(c.threshold for c in crossings) == [80, 100]
    assert all(c.signalled_at is not None for c in crossings)
    assert counter.grace_reached_at is not None
    [reached] = [r for r in await outbox(sessions, cid) if r.template == "usage_limit_reached"]
    assert (reached.data["metric"], reached.data["limit"], reached.data["threshold"]) == (
        "messages",
        10,
        100,
    )
    await record_customer_history(dev_server_env.client, cid, "usage_thresholds")


async def test_a_jump_past_both_thresholds_sends_only_the_limit_notice(
    live: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    http = live
    cid = await sign_up(http, sessions)
    await ingest(http, [event(cid, "tokens", 2_100_000)])  # starter: 2,000,000
    await eventually(
        lambda: usage_emails(sessions, cid), lambda c: c == Counter({"usage_limit_reached": 1})
    )
    [reached] = [r for r in await outbox(sessions, cid) if r.template == "usage_limit_reached"]
    # 2.1M tokens minutes into a 14-day trial projects far past Pro's 20M: sales-led.
    assert reached.data["upgrade_plan"] == "enterprise"
    await stays(lambda: usage_emails(sessions, cid), Counter({"usage_limit_reached": 1}))


async def test_a_signal_that_failed_is_retried_on_the_next_request(
    live: httpx.AsyncClient,
    sessions: SessionFactory,
    database_url: str,
    task_queue: str,
) -> None:
    cid = await sign_up(live, sessions)
    # Another API replica whose Temporal connection is down records the crossing.
    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    async with api_client(settings, down) as offline:
        await ingest(offline, [event(cid, "api_calls", 8_500)])  # 85 % of 10,000
    async with sessions() as session:
        [crossing] = await session.scalars(
            select(UsageThresholdCrossing).where(UsageThresholdCrossing.customer_id == cid)
        )
    assert crossing.signalled_at is None
    assert await usage_emails(sessions, cid) == Counter()

    # The customer's next request (any usage call) delivers it.
    ok(await live.get(f"/v1/customers/{cid}/usage", headers=auth()))
    await eventually(
        lambda: usage_emails(sessions, cid), lambda c: c == Counter({"usage_warning": 1})
    )


async def test_a_notice_the_api_could_not_deliver_goes_out_with_no_further_request(
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    database_url: str,
    task_queue: str,
) -> None:
    """The API committed the crossing and then could not signal (it died, or Temporal was
    away) and the customer sends nothing more. Before: the notice waited for the
    customer's next usage request, for ever if none came. The worker relays it."""
    target = dev_server_env.client.service_client.config.target_host
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, temporal_address=target
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        async with api_client(settings, dev_server_env.client) as http:
            cid = await sign_up(http, sessions)
        down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
        async with api_client(settings, down) as offline:
            await ingest(offline, [event(cid, "api_calls", 8_500)])  # 85 % of 10,000
        await eventually(
            lambda: usage_emails(sessions, cid),
            lambda c: c == Counter({"usage_warning": 1}),
            timeout=30,
        )
    finally:
        stop.set()
        await worker
    async with sessions() as session:
        [crossing] = await session.scalars(
            select(UsageThresholdCrossing).where(UsageThresholdCrossing.customer_id == cid)
        )
    assert crossing.signalled_at is not None
