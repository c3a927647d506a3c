"""Stripe webhooks through ``POST /v1/webhooks/stripe``: signed like Stripe signs them,
stored once in the inbox, invoices mirrored, and applied by the customer's workflow once and
in order.

Event bodies come from the embedded simulator (the same Stripe-shaped JSON the Stripe API
sends), driven over the test's database: convert a customer through the API, then move the
simulator's test clock to the period end and deliver what it emitted as webhooks.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from adapters.payments.base import STRIPE_API_VERSION
from adapters.payments.simulator import SimulatedGateway
from db.engine import SessionFactory
from db.models import Invoice, WebhookEvent
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from domain.proration import add_interval
from tests.factories.apps import api_client
from tests.factories.polling import eventually
from tests.factories.settings import make_settings
from tests.factories.webhooks import (
    SECRET,
    WAIT,
    WEBHOOK,
    convert,
    customer_row,
    deliver,
    encode,
    inbox,
    ledger_of,
    provider_ids,
    sign,
    sign_up,
    view_of,
    workflow_state,
)
from workflows.messages import workflow_id_for

PROBLEM = "application/problem+json"
Json = dict[str, Any]


def assert_problem(response: httpx.Response, status: int, problem_type: str) -> Json:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: Json = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + problem_type), body
    assert body["title"] and body["detail"]
    return body


# -- helpers (those the other webhook tests share are in tests/factories/webhooks.py) ------


def kinds(rows: list[Json], kind: str) -> list[Json]:
    return [row for row in rows if row["kind"] == kind]


async def inbox_size(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


async def invoice_row(sessions: SessionFactory, invoice_id: str) -> Invoice | None:
    async with sessions() as session:
        return await session.get(Invoice, invoice_id)


async def wait_until_seen(env: WorkflowEnvironment, customer_id: str, event_id: str) -> None:
    """The workflow has taken the signal (``seen_events`` is written before anything else)."""
    await eventually(
        lambda: workflow_state(env, customer_id),
        lambda state: event_id in state.seen_events,
        timeout=WAIT,
    )


async def settle(
    http: httpx.AsyncClient, env: WorkflowEnvironment, customer_id: str, template: Json
) -> None:
    """Deliver a no-op copy of a subscription event (a state the workflow already has) and
    wait until the workflow took it: signals are handled one at a time, in order, so every
    event delivered before it has been fully applied (or ignored) by then."""
    marker = copy.deepcopy(template)
    marker.update(id=f"evt_settle_{uuid.uuid4().hex[:16]}", type="customer.subscription.updated")
    assert marker["data"]["object"]["object"] == "subscription"
    response = await deliver(http, marker)
    assert response.json()["status"] == "delivered", response.text
    await wait_until_seen(env, customer_id, marker["id"])


def one(events: list[Json], type_: str) -> Json:
    found = [e for e in events if e["type"] == type_]
    assert len(found) == 1, [e["type"] for e in events]
    return found[0]


async def renewal(
    http: httpx.AsyncClient, sessions: SessionFactory, simulator: SimulatedGateway
) -> tuple[str, Json, list[Json]]:
    """A converted customer whose simulated period just ended: the renewal's events (not
    delivered yet), and the customer view before them."""
    customer_id = await sign_up(http)
    await convert(http, customer_id)
    provider_customer, _ = await provider_ids(sessions, customer_id)
    events = await simulator.advance_to_period_end(provider_customer)
    assert [e["type"] for e in events] == ["invoice.paid", "customer.subscription.updated"]
    return customer_id, await view_of(http, customer_id), events


def iso(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


# -- (a) a valid event ------------------------------------------------------------------------


async def test_signed_renewal_is_stored_mirrored_and_applied(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id, before, events = await renewal(http, sessions, simulator)
    start = (await customer_row(sessions, customer_id)).current_period_start
    assert start is not None
    paid = one(events, "invoice.paid")
    invoice_id = paid["data"]["object"]["id"]
    assert await invoice_row(sessions, invoice_id) is None

    response = await deliver(http, paid)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "duplicate": False, "status": "delivered"}
    stored = await inbox(sessions, paid["id"])
    assert [(r.type, r.provider, r.customer_id, r.status, r.error) for r in stored] == [
        ("invoice.paid", "stripe", customer_id, "delivered", None)
    ]
    assert stored[0].payload == paid
    assert stored[0].delivered_at is not None
    mirrored = await invoice_row(sessions, invoice_id)
    assert mirrored is not None
    assert (
        mirrored.customer_id,
        mirrored.status,
        mirrored.billing_reason,
        mirrored.amount_paid_cents,
    ) == (customer_id, "paid", "subscription_cycle", 2900)
    assert mirrored.hosted_invoice_url

    # The workflow asked the provider what the invoice did: the period rolled over.
    expected_end = add_interval(start, BillingInterval.MONTH, 2)
    after = await eventually(
        lambda: view_of(http, customer_id),
        lambda v: iso(v["current_period_end"]) == expected_end,
        timeout=WAIT,
    )
    assert iso(after["current_period_end"]) > iso(before["current_period_end"])
    assert after["status"] == "active"
    renewed = kinds(await ledger_of(http, customer_id), "subscription_renewed")
    assert len(renewed) == 1, renewed
    assert renewed[0]["actor"] == "stripe"
    assert renewed[0]["data"]["invoice_id"] == invoice_id
    assert renewed[0]["data"]["amount_paid_cents"] == 2900
    assert iso(renewed[0]["data"]["period_end"]) == expected_end
    state = await workflow_state(dev_server_env, customer_id)
    assert paid["id"] in state.seen_events


# -- (b) signatures ---------------------------------------------------------------------------


async def test_bad_signatures_are_400_and_store_nothing(
    http: httpx.AsyncClient, sessions: SessionFactory, simulator: SimulatedGateway
) -> None:
    customer_id, before, events = await renewal(http, sessions, simulator)
    paid = one(events, "invoice.paid")
    payload = encode(paid)
    now = int(time.time())
    tampered = payload.replace(b'"amount_paid":2900', b'"amount_paid":1')
    assert tampered != payload
    cases: dict[str, dict[str, str]] = {
        "tampered body": {"Stripe-Signature": sign(payload, SECRET)},
        "wrong secret": {"Stripe-Signature": sign(payload, "whsec_someone_else")},
        "stale timestamp": {"Stripe-Signature": sign(payload, SECRET, now - 301)},
        "very stale timestamp": {"Stripe-Signature": sign(payload, SECRET, now - 3600)},
        "garbage header": {"Stripe-Signature": "nonsense"},
        "no v1 signature": {"Stripe-Signature": f"t={now}"},
        "missing header": {},
    }
    size = await inbox_size(sessions)
    for case, headers in cases.items():
        body = tampered if case == "tampered body" else payload
        response = await http.post(
            WEBHOOK, content=body, headers={"content-type": "application/json", **headers}
        )
        problem = assert_problem(response, 400, "invalid-signature")
        if case == "missing header":
            assert "Stripe-Signature" in problem["detail"], case
        assert await inbox(sessions, paid["id"]) == [], case
        assert await inbox_size(sessions) == size, case

    # Nothing reached the workflow or the invoice mirror either.
    assert await invoice_row(sessions, paid["data"]["object"]["id"]) is None
    assert kinds(await ledger_of(http, customer_id), "subscription_renewed") == []
    assert (await view_of(http, customer_id))["current_period_end"] == before["current_period_end"]

    # The very same event, signed right, is accepted: the event itself was never the issue.
    accepted = await deliver(http, paid)
    assert accepted.status_code == 200, accepted.text
    assert await inbox_size(sessions) == size + 1


async def test_signed_bodies_that_are_not_events_are_400(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    size = await inbox_size(sessions)
    assert_problem(await deliver(http, b"{not json"), 400, "invalid-event")
    assert_problem(await deliver(http, {"id": "ch_1", "object": "charge"}), 400, "invalid-event")
    assert_problem(await deliver(http, {"object": "event", "type": "x"}), 400, "invalid-event")
    assert_problem(await deliver(http, b"[1, 2]"), 400, "invalid-event")
    assert await inbox_size(sessions) == size


async def test_event_of_another_api_version_is_400_and_stores_nothing(
    http: httpx.AsyncClient, sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An endpoint created at another API version sends other shapes (the parser reads only
    the engine's): refused loudly, so Stripe keeps retrying until the endpoint is fixed."""
    event: Json = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": {"id": f"cus_{uuid.uuid4().hex[:14]}", "object": "customer"}},
    }
    size = await inbox_size(sessions)
    for version in ("2025-09-30.clover", None):
        event["api_version"] = version
        with caplog.at_level(logging.ERROR, logger="lifecycle.webhooks"):
            response = await deliver(http, event)
        problem = assert_problem(response, 400, "api-version-mismatch")
        assert STRIPE_API_VERSION in problem["detail"]
        assert str(version) in problem["detail"]
        assert (problem["expected_api_version"], problem["api_version"]) == (
            STRIPE_API_VERSION,
            version,
        )
        assert await inbox(sessions, event["id"]) == []
    assert await inbox_size(sessions) == size
    logged = [r for r in caplog.records if r.name == "lifecycle.webhooks"]
    assert [r.levelno for r in logged] == [logging.ERROR, logging.ERROR]
    assert "2025-09-30.clover" in logged[0].getMessage()
    assert STRIPE_API_VERSION in logged[0].getMessage()

    # The same event at the engine's version is taken (and stored: nobody's customer).
    event["api_version"] = STRIPE_API_VERSION
    accepted = await deliver(http, event)
    assert accepted.status_code == 200, accepted.text
    assert [r.status for r in await inbox(sessions, event["id"])] == ["ignored"]


# -- (c) duplicates ---------------------------------------------------------------------------


async def test_duplicate_delivery_is_acknowledged_and_applied_once(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id, _, events = await renewal(http, sessions, simulator)
    paid = one(events, "invoice.paid")

    first = await deliver(http, paid)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False, "status": "delivered"}
    applied = await eventually(
        lambda: ledger_of(http, customer_id),
        lambda rows: len(kinds(rows, "subscription_renewed")) == 1,
        timeout=WAIT,
    )
    view = await view_of(http, customer_id)

    second = await deliver(http, paid)
    assert second.status_code == 200, second.text
    assert second.json() == {"received": True, "duplicate": True, "status": "delivered"}
    assert len(await inbox(sessions, paid["id"])) == 1

    await settle(http, dev_server_env, customer_id, one(events, "customer.subscription.updated"))
    assert await ledger_of(http, customer_id) == applied
    assert await view_of(http, customer_id) == view


async def test_redelivery_of_an_event_never_marked_delivered_signals_again_harmlessly(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """A crash between storing the event and marking it delivered leaves it ``received``;
    Stripe's retry signals the workflow again, which knows the event id and does nothing."""
    customer_id, _, events = await renewal(http, sessions, simulator)
    paid = one(events, "invoice.paid")
    assert (await deliver(http, paid)).status_code == 200
    applied = await eventually(
        lambda: ledger_of(http, customer_id),
        lambda rows: len(kinds(rows, "subscription_renewed")) == 1,
        timeout=WAIT,
    )
    async with sessions.begin() as session:
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == paid["id"])
            .values(status="received", delivered_at=None)
        )

    retry = await deliver(http, paid)

    assert retry.status_code == 200, retry.text
    assert retry.json() == {"received": True, "duplicate": True, "status": "delivered"}
    assert [r.status for r in await inbox(sessions, paid["id"])] == ["delivered"]
    await settle(http, dev_server_env, customer_id, one(events, "customer.subscription.updated"))
    assert await ledger_of(http, customer_id) == applied


# -- (d) out of order -------------------------------------------------------------------------


async def test_older_event_after_a_newer_one_does_not_roll_state_back(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """The customer cancels in the Customer Portal (``cancel_at_period_end`` becomes true);
    an older ``customer.subscription.updated`` still saying false arrives after it, stamped
    the same second (``created`` has a resolution of one second, so it cannot order them)."""
    customer_id = await sign_up(http)
    await convert(http, customer_id)
    _, subscription_id = await provider_ids(sessions, customer_id)
    await simulator.cancel_subscription(
        subscription_id, at_period_end=True, idempotency_key=f"portal-{uuid.uuid4()}"
    )
    provider_customer, _ = await provider_ids(sessions, customer_id)
    newer = [
        e
        for e in await simulator.events(provider_customer)
        if e["type"] == "customer.subscription.updated"
    ][-1]
    assert newer["data"]["object"]["cancel_at_period_end"] is True
    older = copy.deepcopy(newer)
    older["id"] = f"evt_older_{uuid.uuid4().hex[:16]}"
    older["created"] = newer["created"]
    older["data"]["object"].update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)

    assert (await deliver(http, newer)).json()["status"] == "delivered"
    scheduled = await eventually(
        lambda: view_of(http, customer_id), lambda v: v["cancel_at_period_end"], timeout=WAIT
    )
    assert scheduled["status"] == "active"
    ledger_after_newer = await ledger_of(http, customer_id)
    cancellation = kinds(ledger_after_newer, "cancellation_scheduled")
    assert [row["actor"] for row in cancellation] == ["stripe"]

    response = await deliver(http, older)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "duplicate": False, "status": "delivered"}
    await settle(http, dev_server_env, customer_id, newer)
    assert await view_of(http, customer_id) == scheduled
    assert await ledger_of(http, customer_id) == ledger_after_newer
    assert kinds(ledger_after_newer, "cancellation_withdrawn") == []
    state = await workflow_state(dev_server_env, customer_id)
    assert state.cancel_at_period_end is True


# -- (e) unknown customer, unknown event type -------------------------------------------------


async def test_event_for_a_customer_not_in_the_database_is_stored_as_ignored(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """E.g. a customer created in the Stripe dashboard, or by another system."""
    stranger = str(uuid.uuid4())
    provider_customer = await simulator.ensure_customer(
        customer_id=stranger, email=None, name=None, idempotency_key=f"{stranger}:cus"
    )
    await simulator.attach_payment_method(
        provider_customer, "pm_card_visa", idempotency_key=f"{stranger}:pm"
    )
    await simulator.create_subscription(
        provider_customer_id=provider_customer,
        customer_id=stranger,
        price=PriceRef("starter", BillingInterval.MONTH),
        idempotency_key=f"{stranger}:sub",
    )
    events = await simulator.events(provider_customer)
    paid = one(events, "invoice.paid")
    created = one(events, "customer.subscription.created")

    for event in (paid, created):
        response = await deliver(http, event)
        assert response.status_code == 200, response.text
        assert response.json() == {"received": True, "duplicate": False, "status": "ignored"}
        stored = await inbox(sessions, event["id"])
        assert [(r.status, r.customer_id, r.error) for r in stored] == [
            ("ignored", None, "no such customer")
        ]
        assert stored[0].provider_customer_id == provider_customer

    assert await invoice_row(sessions, paid["data"]["object"]["id"]) is None
    # Nothing was signalled (a signal would not start a workflow either).
    with pytest.raises(RPCError) as missing:
        await dev_server_env.client.get_workflow_handle(workflow_id_for(stranger)).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    again = await deliver(http, paid)
    assert again.json() == {"received": True, "duplicate": True, "status": "ignored"}


async def test_unhandled_event_types_are_acknowledged_and_ignored(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id = await sign_up(http)
    await convert(http, customer_id)
    provider_customer, _ = await provider_ids(sessions, customer_id)
    logged = await simulator.events(provider_customer)
    # payment_method.attached and customer.updated are handled (a card changed in the
    # portal); customer.created is not.
    attached = one(logged, "customer.created")
    invented = copy.deepcopy(one(logged, "customer.subscription.created"))
    invented.update(id=f"evt_new_{uuid.uuid4().hex[:16]}", type="radar.early_fraud_warning.created")
    ledger_before = await ledger_of(http, customer_id)
    view_before = await view_of(http, customer_id)

    for event in (attached, invented):
        response = await deliver(http, event)
        assert response.status_code == 200, response.text
        assert response.json() == {"received": True, "duplicate": False, "status": "ignored"}
        stored = await inbox(sessions, event["id"])
        assert [(r.type, r.status, r.customer_id, r.error) for r in stored] == [
            (event["type"], "ignored", customer_id, "event type not handled")
        ]

    await settle(http, dev_server_env, customer_id, one(logged, "customer.subscription.created"))
    state = await workflow_state(dev_server_env, customer_id)
    assert attached["id"] not in state.seen_events
    assert invented["id"] not in state.seen_events
    assert await ledger_of(http, customer_id) == ledger_before
    assert await view_of(http, customer_id) == view_before


# -- (f) not configured ------------------------------------------------------------------------


async def test_webhooks_without_a_secret_are_503(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    task_queue: str,
) -> None:
    settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        stripe_webhook_secret=None,
        stripe_api_key=None,
    )
    event: Json = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {"object": {}},
    }
    size = await inbox_size(sessions)
    async with api_client(settings, dev_server_env.client) as http:
        signed = await deliver(http, event, secret="")
        unsigned = await http.post(WEBHOOK, content=encode(event))
    for response in (signed, unsigned):
        problem = assert_problem(response, 503, "webhooks-not-configured")
        assert "STRIPE_WEBHOOK_SECRET" in problem["detail"]
    assert await inbox(sessions, event["id"]) == []
    assert await inbox_size(sessions) == size
