"""The simulator redelivers what its request could not, as Stripe retries a webhook; and a
repeated test-clock advance with the same key renews one period, not two."""

from __future__ import annotations

import uuid

import httpx
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from api.auth import KeyRing
from api.context import AppContext
from api.simulator.delivery import FIRST_RETRY, SimulatorRedelivery
from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories.polling import eventually
from tests.factories.settings import make_settings
from tests.factories.webhooks import SECRET, convert, inbox, provider_ids, sign_up, view_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_events_a_dead_request_left_behind_are_delivered_again(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    customer_id = await sign_up(http)
    await convert(http, customer_id)
    provider_customer, _ = await provider_ids(sessions, customer_id)
    before = (await view_of(http, customer_id))["current_period_end"]
    # The simulator renewed, and the request that was to feed its events died.
    events = await simulator.advance_to_period_end(provider_customer)
    assert events
    for event in events:
        assert await inbox(sessions, event["id"]) == []

    context = AppContext(
        settings=make_settings(
            database_url=database_url, task_queue=task_queue, stripe_webhook_secret=SECRET
        ),
        config=engine_config,
        sessions=sessions,
        temporal=dev_server_env.client,
        keys=KeyRing(app_keys=(), admin_keys=()),
        payments=simulator,
    )
    clock = Clock()
    redelivery = SimulatorRedelivery(context, clock=clock)
    # First seen: its own request may still be delivering it.
    assert await redelivery.deliver_once() == 0
    clock.now += FIRST_RETRY + 1
    assert await redelivery.deliver_once() >= len(events)
    renewed = await eventually(
        lambda: view_of(http, customer_id), lambda v: v["current_period_end"] != before
    )
    assert renewed["status"] == "active"
    for event in events:
        [stored] = await inbox(sessions, event["id"])
        assert stored.status in ("delivered", "ignored")
    # Acknowledged: never again.
    clock.now += 3600
    assert await redelivery.deliver_once() == 0


async def test_a_repeated_advance_with_the_same_key_renews_once(
    http: httpx.AsyncClient, sessions: SessionFactory, simulator: SimulatedGateway
) -> None:
    customer_id = await sign_up(http)
    await convert(http, customer_id)
    provider_customer, subscription_id = await provider_ids(sessions, customer_id)
    key = f"advance-{uuid.uuid4()}"
    first = await simulator.advance_to_period_end(provider_customer, idempotency_key=key)
    end = (await simulator.get_subscription(subscription_id)).current_period_end
    again = await simulator.advance_to_period_end(provider_customer, idempotency_key=key)
    assert [e["id"] for e in again] == [e["id"] for e in first]
    assert (await simulator.get_subscription(subscription_id)).current_period_end == end
