"""A renewal declined for 3-D Secure (``authentication_required``) asks the customer to
confirm on the hosted invoice page from the decline itself, once: Stripe promises neither
that ``invoice.payment_action_required`` arrives nor in which order. Never the "update your
card" email (a new card would not help), never the confirmation twice."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from db.engine import SessionFactory
from db.models import EmailOutbox
from tests.factories.histories import record_customer_history
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.webhooks import (
    WAIT,
    convert,
    deliver_all,
    ledger_of,
    provider_ids,
    sign_up,
    workflow_state,
)

Json = dict[str, Any]
ACTION_REQUIRED = "invoice.payment_action_required"


async def renewal_needing_3ds(
    http: httpx.AsyncClient, sessions: SessionFactory, simulator: SimulatedGateway
) -> tuple[str, list[Json]]:
    customer_id = await sign_up(http)
    await convert(http, customer_id)
    provider_customer, subscription_id = await provider_ids(sessions, customer_id)
    await simulator.attach_payment_method(
        provider_customer,
        "pm_card_authenticationRequired",
        idempotency_key=f"{customer_id}:3ds",
        subscription_id=subscription_id,
    )
    return customer_id, await simulator.advance_to_period_end(provider_customer)


async def confirmation_emails(sessions: SessionFactory, customer_id: str) -> list[EmailOutbox]:
    rows = await eventually(
        lambda: outbox(sessions, customer_id),
        lambda found: any(e.template == "payment_action_required" for e in found),
        timeout=WAIT,
    )
    return [e for e in rows if e.template == "payment_action_required"]


async def assert_asked_once(
    http: httpx.AsyncClient, sessions: SessionFactory, customer_id: str, hosted: str
) -> None:
    emails = await confirmation_emails(sessions, customer_id)
    assert len(emails) == 1 and hosted in (emails[0].body or "")
    templates = [e.template for e in await outbox(sessions, customer_id)]
    assert "payment_failed" not in templates, templates
    kinds = [r["kind"] for r in await ledger_of(http, customer_id)]
    assert kinds.count("payment_action_required") == 1, kinds
    assert kinds.count("payment_failed") == 1, kinds


async def test_the_decline_alone_asks_for_confirmation_once(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id, events = await renewal_needing_3ds(http, sessions, simulator)
    [action] = [e for e in events if e["type"] == ACTION_REQUIRED]
    hosted = action["data"]["object"]["hosted_invoice_url"]
    # The event is lost (or late): the decline on the invoice's payment is all there is.
    await deliver_all(
        http, dev_server_env, customer_id, [e for e in events if e["type"] != ACTION_REQUIRED]
    )
    await assert_asked_once(http, sessions, customer_id, hosted)
    failed = [r for r in await ledger_of(http, customer_id) if r["kind"] == "payment_failed"]
    assert [r["data"]["decline_code"] for r in failed] == ["authentication_required"]
    # The event arrives after all, twice: nothing more is sent.
    await deliver_all(http, dev_server_env, customer_id, [action])
    await deliver_all(http, dev_server_env, customer_id, [{**action, "id": f"{action['id']}_2"}])
    await assert_asked_once(http, sessions, customer_id, hosted)
    state = await workflow_state(dev_server_env, customer_id)
    assert state.status.value == "past_due" and state.dunning is not None
    assert state.dunning.next_retry_at is not None and not state.dunning.hard_decline
    await record_customer_history(
        dev_server_env.client, customer_id, "provider_events_authentication_decline_alone"
    )


async def test_the_event_before_the_decline_asks_once(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id, events = await renewal_needing_3ds(http, sessions, simulator)
    [action] = [e for e in events if e["type"] == ACTION_REQUIRED]
    hosted = action["data"]["object"]["hosted_invoice_url"]
    first = [action, *[e for e in events if e["type"] != ACTION_REQUIRED]]
    await deliver_all(http, dev_server_env, customer_id, first)
    await assert_asked_once(http, sessions, customer_id, hosted)
    await record_customer_history(
        dev_server_env.client, customer_id, "provider_events_authentication_event_first"
    )
