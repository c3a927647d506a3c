"""Stripe webhooks as the API receives them: signed like Stripe signs them and delivered to
``POST /v1/webhooks/stripe``, plus the customer steps and reads the webhook tests share."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from db.engine import SessionFactory
from db.models import Customer, WebhookEvent
from domain.payments import PaymentEvent
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.responses import Json
from tests.factories.settings import ADMIN_KEY, auth
from workflows.customer import CustomerWorkflow
from workflows.messages import CustomerState, workflow_id_for

SECRET = "whsec_test"
WEBHOOK = "/v1/webhooks/stripe"
WAIT = 30.0


# -- signing -------------------------------------------------------------------------------


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def encode(event: Json) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


async def deliver(
    http: httpx.AsyncClient,
    event: Json | bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    payload = event if isinstance(event, bytes) else encode(event)
    return await http.post(
        WEBHOOK,
        content=payload,
        headers={
            "content-type": "application/json",
            "Stripe-Signature": sign(payload, secret, timestamp),
        },
    )


# -- a customer through the API ------------------------------------------------------------


async def sign_up(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("hook")},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def convert(http: httpx.AsyncClient, customer_id: str, plan: str = "starter") -> Json:
    response = await http.post(
        f"/v1/customers/{customer_id}/subscription",
        json={"plan": plan, "interval": "month", "payment_method": "pm_card_visa"},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    view: Json = response.json()
    assert view["status"] == "active"
    return view


async def view_of(http: httpx.AsyncClient, customer_id: str) -> Json:
    response = await http.get(f"/v1/customers/{customer_id}", headers=auth())
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def ledger_of(http: httpx.AsyncClient, customer_id: str) -> list[Json]:
    response = await http.get(
        f"/v1/admin/customers/{customer_id}/events?audit=false", headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 200, response.text
    rows: list[Json] = response.json()["data"]
    return rows


# -- what the engine holds -----------------------------------------------------------------


async def customer_row(sessions: SessionFactory, customer_id: str) -> Customer:
    async with sessions() as session:
        row = await session.get(Customer, customer_id)
    assert row is not None
    return row


async def provider_ids(sessions: SessionFactory, customer_id: str) -> tuple[str, str]:
    row = await customer_row(sessions, customer_id)
    assert row.provider_customer_id and row.provider_subscription_id, row
    return row.provider_customer_id, row.provider_subscription_id


async def inbox(sessions: SessionFactory, event_id: str) -> list[WebhookEvent]:
    async with sessions() as session:
        rows = await session.scalars(select(WebhookEvent).where(WebhookEvent.id == event_id))
        return list(rows)


async def workflow_state(env: WorkflowEnvironment, customer_id: str) -> CustomerState:
    handle = env.client.get_workflow_handle(workflow_id_for(customer_id))
    snapshot = await handle.query(CustomerWorkflow.snapshot)
    return snapshot.state


async def settled(env: WorkflowEnvironment, customer_id: str) -> None:
    """Wait until the workflow has applied every event delivered so far: signals are
    applied one at a time, in order, so once a marker signalled after them is seen, every
    delivery before it has been applied."""
    marker = f"evt_marker_{uuid.uuid4().hex[:12]}"
    await env.client.get_workflow_handle(workflow_id_for(customer_id)).signal(
        CustomerWorkflow.payment_event,
        PaymentEvent(
            id=marker, type="test.marker", created=datetime.now(UTC), provider_customer_id=None
        ),
    )
    await eventually(
        lambda: workflow_state(env, customer_id),
        lambda state: marker in state.seen_events,
        timeout=WAIT,
    )


async def deliver_all(
    http: httpx.AsyncClient, env: WorkflowEnvironment, customer_id: str, events: list[Json]
) -> None:
    """Deliver as webhooks (each must be taken: 200), then wait until all are applied."""
    for event in events:
        response = await deliver(http, event)
        assert response.status_code == 200, (event["type"], response.text)
    await settled(env, customer_id)
