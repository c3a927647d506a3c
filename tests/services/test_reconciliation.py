"""Reconciliation over a real lifecycle: a customer converted by its workflow (the real
activities, payments through the simulator) reconciles clean; then differences are planted
on both sides (the engine's rows, the provider's objects changed behind the engine's back)
and each is listed exactly once with its customer, recorded and counted by the gauge. The
daily Schedule runs the same comparison through Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.reconciliation import ReconciliationSummary, publish_latest_run
from core.config import EngineConfig
from core.metrics import RECONCILIATION_DIFFERENCES
from db.models import Customer, Invoice, ReconciliationRun
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef, addon_lookup_key
from services.reconciliation import latest_report, reconcile_now
from services.temporal_setup import ensure_reconciliation_schedule
from tests.factories.databases import Database
from tests.factories.polling import eventually
from tests.factories.reconciliation import GHOST_INVOICE, plant_engine_only_invoice
from tests.factories.records import outbox
from tests.factories.schedules import clean_schedule, trigger_once
from tests.factories.workers import make_simulator, make_worker
from tests.factories.workflows import Started, start_customer
from workflows.customer import CustomerWorkflow
from workflows.messages import ChangeSubscription
from workflows.reconciliation import RECONCILIATION_SCHEDULE_ID

NO_GRACE = timedelta(0)


@pytest.fixture
async def subscribed(
    time_skipping_env: WorkflowEnvironment,
    own_database: Database,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[Started]:
    """A customer on Pro monthly, converted by its workflow, in a database of its own."""
    sessions = own_database.sessions
    async with make_worker(
        time_skipping_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    ):
        started = await start_customer(time_skipping_env, sessions, engine_config, task_queue)
        await eventually(lambda: outbox(sessions, started.customer.id), lambda r: len(r) == 1)
        await started.update(
            CustomerWorkflow.change_subscription,
            ChangeSubscription(
                plan="pro",
                interval=BillingInterval.MONTH,
                actor="app:test",
                payment_method="pm_card_visa",
            ),
        )
        yield started


def _later() -> datetime:
    # Past the objects' creation on the test server's clock (it may run ahead of ours).
    return datetime.now(UTC) + timedelta(days=1)


async def test_a_clean_lifecycle_lists_none_and_every_planted_difference_is_listed(
    subscribed: Started, own_database: Database, engine_config: EngineConfig
) -> None:
    sessions = own_database.sessions
    gateway = make_simulator(sessions, engine_config)
    cid = subscribed.customer.id

    clean = await reconcile_now(sessions, gateway, trigger="test", as_of=_later(), grace=NO_GRACE)
    assert clean.differences == []
    assert (clean.invoices_compared, clean.subscriptions_compared) == (1, 1)
    assert RECONCILIATION_DIFFERENCES._value.get() == 0

    async with sessions() as session:
        customer = await session.get(Customer, cid)
        assert customer is not None and customer.current_period_end is not None
        pid, sub_id = customer.provider_customer_id, customer.provider_subscription_id
        period_end = customer.current_period_end
        (invoice_id,) = await session.scalars(select(Invoice.id).where(Invoice.customer_id == cid))
    assert pid is not None and sub_id is not None

    # The engine's side: a payment recorded short, a period moved, an invoice of its own.
    async with sessions.begin() as session:
        await session.execute(
            update(Invoice).where(Invoice.id == invoice_id).values(amount_paid_cents=0)
        )
        await session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(current_period_end=period_end + timedelta(days=1))
        )
    await plant_engine_only_invoice(sessions, engine_config, customer_id=cid)
    # The provider's side, behind the engine's back (the dashboard, a lost webhook): a
    # one-off charge, a cancellation at period end, a subscription nobody in the engine has.
    extra = await gateway.charge_one_off(
        pid, addon_lookup_key("message_pack"), 1, idempotency_key="dashboard-charge"
    )
    await gateway.cancel_subscription(sub_id, at_period_end=True, idempotency_key="dash-cancel")
    stranger = await gateway.ensure_customer(
        customer_id="stranger-1", email=None, name=None, idempotency_key="stranger-customer"
    )
    await gateway.attach_payment_method(stranger, "pm_card_visa", idempotency_key="stranger-pm")
    stranger_sub = await gateway.create_subscription(
        provider_customer_id=stranger,
        customer_id="stranger-1",
        price=PriceRef("starter", BillingInterval.MONTH),
        idempotency_key="stranger-sub",
    )
    assert stranger_sub.latest_invoice is not None

    report = await reconcile_now(sessions, gateway, trigger="test", as_of=_later(), grace=NO_GRACE)
    listed = [
        (d["customer_id"], d["object"], d["object_id"], d["kind"], d["field"])
        for d in report.differences
    ]
    expected = [
        (cid, "payment", invoice_id, "amount_mismatch", "amount_paid_cents"),
        (cid, "invoice", GHOST_INVOICE, "missing_at_provider", None),
        (cid, "invoice", extra.id, "missing_in_engine", "status"),
        (cid, "subscription", sub_id, "period_mismatch", "current_period_end"),
        (cid, "subscription", sub_id, "status_mismatch", "cancel_at_period_end"),
        (None, "invoice", stranger_sub.latest_invoice.id, "missing_in_engine", "status"),
        ("stranger-1", "subscription", stranger_sub.id, "missing_in_engine", "status"),
    ]
    assert sorted(listed, key=str) == sorted(expected, key=str)
    assert len(listed) == len(expected)
    payment = next(d for d in report.differences if d["object"] == "payment")
    assert (payment["engine"], payment["provider"]) == (0, 9900)
    stranger_invoice = next(d for d in report.differences if d["customer_id"] is None)
    assert stranger_invoice["provider_customer_id"] == stranger

    assert RECONCILIATION_DIFFERENCES._value.get() == len(expected)
    latest = await latest_report(sessions)
    assert latest is not None and latest.run_key == report.run_key
    assert latest.differences == report.differences
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ReconciliationRun)) == 2


async def test_young_objects_wait_for_the_next_run(
    subscribed: Started, own_database: Database, engine_config: EngineConfig
) -> None:
    """A provider invoice made a minute ago may still have its webhook on the way."""
    sessions = own_database.sessions
    gateway = make_simulator(sessions, engine_config)
    async with sessions() as session:
        customer = await session.get(Customer, subscribed.customer.id)
        assert customer is not None and customer.provider_customer_id is not None
    extra = await gateway.charge_one_off(
        customer.provider_customer_id,
        addon_lookup_key("message_pack"),
        1,
        idempotency_key="young-charge",
    )
    as_of = extra.created + timedelta(minutes=1)
    waiting = await reconcile_now(
        sessions, gateway, trigger="test", as_of=as_of, grace=timedelta(minutes=15)
    )
    assert waiting.differences == []
    listed = await reconcile_now(sessions, gateway, trigger="test", as_of=as_of, grace=NO_GRACE)
    assert [d["object_id"] for d in listed.differences] == [extra.id]


@pytest.fixture
async def schedule_client(dev_server_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    async with clean_schedule(dev_server_env.client, RECONCILIATION_SCHEDULE_ID) as client:
        yield client


async def test_the_daily_schedule_reconciles_and_records_the_run(
    schedule_client: Client, own_database: Database, engine_config: EngineConfig, task_queue: str
) -> None:
    client = schedule_client
    assert await ensure_reconciliation_schedule(client, task_queue="elsewhere") == "created"
    assert await ensure_reconciliation_schedule(client, task_queue=task_queue) == "updated"
    description = await client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID).describe()
    assert [i.every for i in description.schedule.spec.intervals] == [timedelta(days=1)]
    assert description.info.num_actions == 0

    customer_id = await plant_engine_only_invoice(own_database.sessions, engine_config)
    async with make_worker(
        client, task_queue=task_queue, sessions=own_database.sessions, config=engine_config
    ):
        summary = await trigger_once(client, RECONCILIATION_SCHEDULE_ID, ReconciliationSummary)
    assert (summary.differences, summary.invoices_compared) == (1, 1)
    report = await latest_report(own_database.sessions)
    assert report is not None and (report.run_key, report.trigger) == (summary.run_key, "schedule")
    (difference,) = report.differences
    assert (difference["customer_id"], difference["object_id"], difference["kind"]) == (
        customer_id,
        GHOST_INVOICE,
        "missing_at_provider",
    )
    assert RECONCILIATION_DIFFERENCES._value.get() == 1
    # A restarted worker publishes the latest run's count before its next run.
    RECONCILIATION_DIFFERENCES.set(0)
    await publish_latest_run(own_database.sessions)
    assert RECONCILIATION_DIFFERENCES._value.get() == 1
