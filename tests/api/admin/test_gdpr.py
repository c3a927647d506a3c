"""GDPR: the export of everything the engine holds about a customer, and erasure, which
leaves the customer's email, name and address in no table of the database (the payment
simulator's, which plays Stripe, included) and in no event of the customer's Temporal
history, while the financial ledger stays under the pseudonymous customer id.

Real API, real worker, the embedded payment simulator, the Temporal dev server.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator.models import SimCustomer, SimEvent, SimSubscription
from api.auth import Principal, Scope, key_fingerprint
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import (
    Customer,
    EmailOutbox,
    LedgerEvent,
    Notification,
    UsageCounter,
    UsageDaily,
    UsageEvent,
    WebhookEvent,
)
from tests.factories.apps import api_client
from tests.factories.databases import tables_containing
from tests.factories.histories import history_text
from tests.factories.polling import eventually
from tests.factories.responses import assert_problem, ok
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings
from tests.factories.webhooks import deliver
from tests.factories.workers import make_worker
from workflows.customer import CustomerWorkflow
from workflows.messages import workflow_id_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

WEBHOOK_SECRET = "whsec_test"
ADMIN_ACTOR = Principal(scope=Scope.ADMIN, key_id=key_fingerprint(ADMIN_KEY)).actor
Json = dict[str, Any]


@dataclass
class Person:
    """Personal data nobody else in the database has, so a search for it is exact."""

    email: str
    first: str
    last: str
    line1: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def needles(self) -> list[str]:
        return [self.email, self.name, self.first, self.last, self.line1]

    @classmethod
    def new(cls) -> Person:
        tag = uuid.uuid4().hex
        return cls(
            email=f"gdpr-{tag[:12]}@example.com",
            first=f"Quenby{tag[12:18]}",
            last=f"Ashgrove{tag[18:24]}",
            line1=f"{int(tag[24:28], 16)} Juniper{tag[28:32]} Lane",
        )


@dataclass
class Env:
    http: httpx.AsyncClient
    sessions: SessionFactory
    temporal: WorkflowEnvironment


@pytest.fixture
async def env(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[Env]:
    settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        stripe_api_key=None,
        stripe_webhook_secret=WEBHOOK_SECRET,
    )
    async with (
        make_worker(
            dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
        ),
        api_client(settings, dev_server_env.client) as http,
    ):
        yield Env(http=http, sessions=sessions, temporal=dev_server_env)


# -- building a customer with a history ----------------------------------------------------


async def _templates_sent(env: Env, cid: str) -> list[str]:
    async def probe() -> list[EmailOutbox]:
        async with env.sessions() as session:
            rows = await session.scalars(
                select(EmailOutbox)
                .where(EmailOutbox.customer_id == cid)
                .order_by(EmailOutbox.created_at, EmailOutbox.id)
            )
            return list(rows)

    rows = await eventually(probe, lambda r: bool(r) and all(x.status == "sent" for x in r))
    return [r.template for r in rows]


async def _sign_up(env: Env, person: Person) -> str:
    created = ok(
        await env.http.post(
            "/v1/customers",
            json={
                "external_id": f"ext-{uuid.uuid4()}",
                "email": person.email,
                "name": person.name,
            },
            headers=auth(),
        ),
        201,
    )
    cid = str(created["id"])
    assert await _templates_sent(env, cid) == ["welcome"]
    return cid


async def _record_usage(env: Env, cid: str) -> None:
    now = datetime.now(UTC)
    period = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    async with env.sessions.begin() as session:
        for n in range(3):
            session.add(
                UsageEvent(
                    customer_id=cid,
                    metric="messages",
                    quantity=10 + n,
                    idempotency_key=f"msg-{n}",
                    occurred_at=now - timedelta(minutes=n),
                    period_start=period,
                    recorded_at=now,
                )
            )
        session.add(
            UsageCounter(
                customer_id=cid,
                metric="messages",
                period_start=period,
                period_end=None,
                used=33,
                updated_at=now,
            )
        )
        session.add(UsageDaily(customer_id=cid, metric="messages", day=now.date(), quantity=33))


async def _advance(env: Env, cid: str) -> list[str]:
    result = ok(
        await env.http.post(
            "/v1/admin/test-clock/advance", json={"customer_id": cid}, headers=auth(ADMIN_KEY)
        )
    )
    return list(result["events"])


async def _view(env: Env, cid: str) -> Json:
    return ok(await env.http.get(f"/v1/customers/{cid}", headers=auth()))


async def _paying_customer_in_dunning(env: Env, person: Person) -> str:
    """Sign-up, conversion, a billing address, usage, a paid renewal, then a declined one
    (a webhook, past_due, an email and an in-app notification)."""
    http = env.http
    cid = await _sign_up(env, person)
    converted = ok(
        await http.post(
            f"/v1/customers/{cid}/subscription",
            json={"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
    )
    assert converted["status"] == "active"
    ok(
        await http.put(
            f"/v1/customers/{cid}/billing-address",
            json={
                "line1": person.line1,
                "city": "Springfield",
                "postal_code": "10115",
                "country": "DE",
            },
            headers=auth(),
        )
    )
    await _record_usage(env, cid)
    assert "invoice.paid" in await _advance(env, cid)
    ok(
        await http.put(
            f"/v1/customers/{cid}/payment-method",
            json={"payment_method": "pm_card_chargeCustomerFail"},
            headers=auth(),
        )
    )
    assert "invoice.payment_failed" in await _advance(env, cid)
    await eventually(lambda: _view(env, cid), lambda v: v["status"] == "past_due")

    async def notifications() -> list[Notification]:
        async with env.sessions() as session:
            rows = await session.scalars(
                select(Notification).where(Notification.customer_id == cid)
            )
            return list(rows)

    await eventually(notifications, lambda rows: len(rows) == 1)
    templates = await eventually(lambda: _templates_sent(env, cid), lambda t: "payment_failed" in t)
    assert templates == ["welcome", "trial_converted", "payment_failed"]
    return cid


async def _ledger(env: Env, cid: str) -> list[LedgerEvent]:
    async with env.sessions() as session:
        rows = await session.scalars(
            select(LedgerEvent).where(LedgerEvent.customer_id == cid).order_by(LedgerEvent.id)
        )
        return list(rows)


async def _sim_customer(env: Env, cid: str) -> SimCustomer | None:
    async with env.sessions() as session:
        found: SimCustomer | None = await session.scalar(
            select(SimCustomer).where(SimCustomer.engine_customer_id == cid)
        )
        return found


async def _completed(env: Env, cid: str) -> None:
    """The workflow ends right after answering the erase update."""
    handle = env.temporal.client.get_workflow_handle(workflow_id_for(cid))

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(status, lambda s: s == WorkflowExecutionStatus.COMPLETED, timeout=10)
    assert await handle.result() is None


async def _erase(env: Env, cid: str) -> Json:
    return ok(await env.http.delete(f"/v1/admin/customers/{cid}", headers=auth(ADMIN_KEY)))


async def _assert_nowhere(env: Env, cid: str, person: Person) -> None:
    """No table holds the person's data; nor does the customer's Temporal history."""
    for needle in person.needles:
        assert await tables_containing(env.sessions, needle) == {}, needle
    history = await history_text(env.temporal.client.get_workflow_handle(workflow_id_for(cid)))
    # Payloads are decoded (base64 in the JSON): the workflow input names the customer.
    assert f'"customer_id":"{cid}"' in history
    for needle in person.needles:
        assert needle.lower() not in history.lower(), needle


# -- export ----------------------------------------------------------------------------------


async def test_export_holds_everything_about_the_customer(env: Env) -> None:
    person = Person.new()
    cid = await _paying_customer_in_dunning(env, person)
    document = ok(await env.http.get(f"/v1/admin/customers/{cid}/export", headers=auth(ADMIN_KEY)))
    assert document["customer_id"] == cid
    datetime.fromisoformat(document["exported_at"])

    profile = document["profile"]
    assert (profile["email"], profile["name"]) == (person.email, person.name)
    assert profile["billing_address"]["line1"] == person.line1
    # The subscription as the engine holds it.
    assert (profile["status"], profile["plan"], profile["interval"]) == (
        "past_due",
        "starter",
        "month",
    )
    assert profile["provider_subscription_id"] and profile["provider_customer_id"]
    assert profile["current_period_end"]

    invoices = document["invoices"]
    assert sorted(i["status"] for i in invoices) == ["open", "paid", "paid"]
    assert {i["customer_id"] for i in invoices} == {cid}
    assert len(document["usage_events"]) == 3
    assert [c["used"] for c in document["usage_counters"]] == [33]
    assert [d["quantity"] for d in document["usage_daily"]] == [33]
    emails = document["emails"]
    assert [e["template"] for e in emails] == ["welcome", "trial_converted", "payment_failed"]
    assert all(e["to_email"] == person.email for e in emails)
    assert person.first in emails[0]["body"]
    assert [n["kind"] for n in document["notifications"]] == ["payment_failed"]
    kinds = [row["kind"] for row in document["ledger"]]
    for kind in ("trial_started", "trial_converted", "invoice_paid", "payment_failed"):
        assert kind in kinds
    assert [row["id"] for row in document["ledger"]] == [r.id for r in await _ledger(env, cid)]
    assert any(w["type"] == "invoice.payment_failed" for w in document["webhook_events"])
    # One JSON document: it survives a round trip.
    assert json.loads(json.dumps(document)) == document

    assert_problem(
        await env.http.get(f"/v1/admin/customers/{uuid.uuid4()}/export", headers=auth(ADMIN_KEY)),
        404,
    )
    assert_problem(
        await env.http.get(f"/v1/admin/customers/{cid}/export", headers=auth(APP_KEY)),
        403,
        "forbidden",
    )


# -- erasure ---------------------------------------------------------------------------------


async def test_erasure_of_a_paying_customer_leaves_no_personal_data(env: Env) -> None:
    person = Person.new()
    cid = await _paying_customer_in_dunning(env, person)

    # The search finds the data before: it would notice any left behind.
    before = {needle: await tables_containing(env.sessions, needle) for needle in person.needles}
    assert {"customers", "email_outbox", "sim_customers"} <= set(before[person.email])
    assert {"customers", "sim_customers"} <= set(before[person.name])
    assert {"customers", "sim_customers", "sim_events"} <= set(before[person.line1])
    financial_before = [(r.id, r.hash, r.kind, r.data) for r in await _ledger(env, cid)]

    erased = await _erase(env, cid)
    assert erased == {"customer_id": cid, "erased": True, "already_erased": False}

    await _assert_nowhere(env, cid, person)

    # The lifecycle is over: subscription canceled, workflow completed.
    await _completed(env, cid)
    view = await _view(env, cid)
    assert (view["status"], view["email"], view["name"]) == ("canceled", None, None)
    assert view["external_id"] == f"erased:{cid}"

    # The financial record stays, untouched, under the pseudonymous id.
    after = await _ledger(env, cid)
    assert [(r.id, r.hash, r.kind, r.data) for r in after][: len(financial_before)] == (
        financial_before
    )
    kinds = [r.kind for r in after]
    for kind in (
        "trial_converted",
        "invoice_paid",
        "payment_failed",
        "subscription_canceled",
        "customer_erased",
    ):
        assert kind in kinds, kinds
    erased_row = after[-1]
    assert (erased_row.kind, erased_row.actor) == ("customer_erased", ADMIN_ACTOR)
    canceled = next(r for r in after if r.kind == "subscription_canceled")
    assert (canceled.from_status, canceled.to_status, canceled.actor) == (
        "past_due",
        "canceled",
        ADMIN_ACTOR,
    )
    assert canceled.data["reason"] == "erased"
    assert canceled.mrr_delta_cents == -2900
    async with env.sessions() as session:
        webhooks = list(
            await session.scalars(select(WebhookEvent).where(WebhookEvent.customer_id == cid))
        )
        row = await session.get(Customer, cid)
    assert webhooks and all(w.payload.get("redacted") is True for w in webhooks)
    assert row is not None and row.billing_address is None

    # Stripe's side (the simulator): the customer's personal data is gone, billing ended.
    sim = await _sim_customer(env, cid)
    assert sim is not None
    assert (sim.email, sim.name, sim.address) == (None, None, None)
    assert sim.erased_at is not None
    async with env.sessions() as session:
        subscriptions = list(
            await session.scalars(
                select(SimSubscription).where(SimSubscription.customer_id == sim.id)
            )
        )
    assert [s.status for s in subscriptions] == ["canceled"]

    # What an access request would now return: no personal data, the records remain.
    document = ok(await env.http.get(f"/v1/admin/customers/{cid}/export", headers=auth(ADMIN_KEY)))
    assert (document["profile"]["email"], document["profile"]["name"]) == (None, None)
    assert len(document["invoices"]) == 3
    assert all(e["to_email"] is None and e["body"] is None for e in document["emails"])
    assert [n["body"] for n in document["notifications"]] == ["(erased)"]

    # Asking again is harmless and says so.
    again = await _erase(env, cid)
    assert again == {"customer_id": cid, "erased": True, "already_erased": True}
    assert [r.kind for r in await _ledger(env, cid)].count("customer_erased") == 1
    assert_problem(
        await env.http.delete(f"/v1/admin/customers/{uuid.uuid4()}", headers=auth(ADMIN_KEY)),
        404,
    )
    assert_problem(
        await env.http.delete(f"/v1/admin/customers/{cid}", headers=auth(APP_KEY)),
        403,
        "forbidden",
    )


async def test_erasure_of_a_trialing_customer(env: Env) -> None:
    person = Person.new()
    cid = await _sign_up(env, person)
    assert set(await tables_containing(env.sessions, person.email)) == {
        "customers",
        "email_outbox",
    }

    assert (await _erase(env, cid))["already_erased"] is False
    await _assert_nowhere(env, cid, person)

    await _completed(env, cid)
    rows = await _ledger(env, cid)
    lifecycle = [(r.kind, r.from_status, r.to_status) for r in rows if r.kind != "email_sent"]
    assert lifecycle == [
        ("trial_started", None, "trialing"),
        ("trial_ended", "trialing", "canceled"),
        ("customer_erased", None, None),
    ]
    assert await _sim_customer(env, cid) is None, "a trial never reached the provider"
    assert (await _erase(env, cid))["already_erased"] is True
    # The erased customer's workflow takes no more commands.
    assert_problem(
        await env.http.post(
            f"/v1/admin/customers/{cid}/trial-extension",
            json={"days": 3, "reason": "after erasure"},
            headers=auth(ADMIN_KEY),
        ),
        409,
    )


async def test_erasure_after_an_abandoned_checkout_reaches_the_provider(env: Env) -> None:
    person = Person.new()
    cid = await _sign_up(env, person)
    ok(
        await env.http.post(
            f"/v1/customers/{cid}/checkout-session",
            json={"return_url": "https://app.example.com/billing", "plan": "pro"},
            headers=auth(),
        )
    )
    assert "sim_customers" in await tables_containing(env.sessions, person.email)
    await _erase(env, cid)
    for needle in person.needles:
        assert await tables_containing(env.sessions, needle) == {}, needle


async def test_webhooks_after_erasure_bring_no_personal_data_back(env: Env) -> None:
    person = Person.new()
    cid = await _sign_up(env, person)
    ok(
        await env.http.post(
            f"/v1/customers/{cid}/subscription",
            json={"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
    )
    async with env.sessions() as session:
        created = await session.scalar(
            select(SimEvent.payload).where(
                SimEvent.type == "customer.created",
                SimEvent.customer_id
                == select(SimCustomer.id)
                .where(SimCustomer.engine_customer_id == cid)
                .scalar_subquery(),
            )
        )
    assert created is not None and created["data"]["object"]["email"] == person.email
    await _erase(env, cid)

    # What Stripe sends when the erasure deletes its customer: the last state of it.
    deleted = copy.deepcopy(created)
    deleted["id"] = f"evt_{uuid.uuid4().hex[:24]}"
    deleted["type"] = "customer.deleted"
    deleted["created"] = int(datetime.now(UTC).timestamp())
    deleted["data"]["object"]["address"] = {"line1": person.line1, "country": "DE"}
    response = await deliver(env.http, deleted, secret=WEBHOOK_SECRET)
    assert response.status_code == 200, response.text
    for needle in person.needles:
        assert await tables_containing(env.sessions, needle) == {}, needle


async def test_history_of_a_live_customer_carries_no_personal_data(env: Env) -> None:
    """Workflows carry no PII in the first place: before any erasure, the paying customer's
    history (inputs, activity results, signals, updates) has none."""
    person = Person.new()
    cid = await _paying_customer_in_dunning(env, person)
    handle = env.temporal.client.get_workflow_handle(workflow_id_for(cid))
    snapshot = await handle.query(CustomerWorkflow.snapshot)
    assert snapshot.state.status == "past_due"
    history = await history_text(handle)
    assert f'"customer_id":"{cid}"' in history
    for needle in person.needles:
        assert needle.lower() not in history.lower(), needle
