"""Metrics from a ledger the real workflows wrote: five customers driven through the customer
workflow on the time-skipping server (payments through the simulator), then the engine's
figures checked against what the test did."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer, Invoice
from db.reporting import load_reporting_data
from domain.lifecycle import BillingInterval
from domain.reporting.ledger import MovementType
from domain.reporting.report import compute_report
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.workflows import Started, start_customer
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    PauseSubscription,
    PurchaseAddon,
    ResumeSubscription,
)

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR
ACTOR = "app:test"


async def _subscribe(started: Started, plan: str, interval: BillingInterval) -> None:
    await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(
            plan=plan, interval=interval, actor=ACTOR, payment_method="pm_card_visa"
        ),
    )


async def _welcomed(sessions: SessionFactory, started: Started) -> None:
    await eventually(lambda: outbox(sessions, started.customer.id), lambda r: len(r) == 1)


async def test_metrics_agree_with_what_the_workflows_did(
    worker: Worker,
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = time_skipping_env
    customers = [await start_customer(env, sessions, engine_config, task_queue) for _ in range(5)]
    for started in customers:
        await _welcomed(sessions, started)
    one, two, three, _trialing, five = customers

    await _subscribe(one, "pro", MONTH)  # new +9,900
    await _subscribe(two, "starter", MONTH)  # new +2,900
    await two.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(plan="pro", interval=MONTH, actor=ACTOR),
    )  # expansion +7,000
    await _subscribe(three, "starter", YEAR)  # new +2,465 (29,580 / 12)
    await three.update(
        CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR, at_period_end=False)
    )  # churned -2,465
    # The fourth stays in its trial.
    await _subscribe(five, "starter", MONTH)  # new +2,900
    await five.update(
        CustomerWorkflow.purchase_addon,
        PurchaseAddon(addon="extra_chatbot", quantity=1, actor=ACTOR),
    )  # expansion +500
    await five.update(
        CustomerWorkflow.purchase_addon,
        PurchaseAddon(addon="message_pack", quantity=1, actor=ACTOR),
    )  # overage 1,000
    await five.update(CustomerWorkflow.pause, PauseSubscription(actor=ACTOR))  # churned -3,400
    await five.update(CustomerWorkflow.resume, ResumeSubscription(actor=ACTOR))  # react. +3,400

    ids = [c.customer.id for c in customers]
    start = min(c.signed_up_at for c in customers) - timedelta(hours=1)
    end = await env.get_current_time() + timedelta(minutes=1)
    async with sessions() as session:
        data = await load_reporting_data(session, end=end, customer_ids=ids)
        read_model = {
            c.id: c for c in await session.scalars(select(Customer).where(Customer.id.in_(ids)))
        }
        invoices = list(await session.scalars(select(Invoice).where(Invoice.customer_id.in_(ids))))
    report = compute_report(data.ledger, data.invoices, start=start, end=end)

    # MRR: pro 9,900 + pro 9,900 + starter with one extra chatbot 3,400.
    assert report.recurring_mrr_cents == 9900 + 9900 + 2900 + 500 == 23200
    assert report.recurring_mrr_cents == sum(c.mrr_cents for c in read_model.values())
    assert report.overage_mrr_cents == 1000
    assert report.mrr_cents == 24200
    assert report.arr_cents == 12 * 24200
    moves = report.movements
    assert moves.cents(MovementType.NEW) == 9900 + 2900 + 2465 + 2900
    assert moves.cents(MovementType.EXPANSION) == 7000 + 500
    assert moves.cents(MovementType.CONTRACTION) == 0
    assert moves.cents(MovementType.CHURNED) == -2465 - 3400
    assert moves.cents(MovementType.REACTIVATED) == 3400
    assert (moves.starting_mrr_cents, moves.net_cents) == (0, 23200)
    churned = {c.customer_id for c in moves.totals[MovementType.CHURNED].customers}
    assert churned == {three.customer.id, five.customer.id}
    assert all(m.voluntary for m in moves.entries if m.type is MovementType.CHURNED)

    counts = report.status_counts
    assert (counts["active"], counts["trialing"], counts["canceled"]) == (3, 1, 1)
    assert report.paying_customers == 3
    assert report.arpu_cents == 8067  # 24,200 / 3 = 8,066.67

    funnel = report.funnel.counts
    assert (funnel.started, funnel.converted, funnel.converted_within_trial) == (5, 4, 4)
    assert (funnel.in_trial, funnel.expired) == (1, 0)
    assert funnel.conversion_rate == Decimal("0.8000")

    paid = sum(i.amount_paid_cents for i in invoices if i.status == "paid")
    assert paid > 9900 + 2900 + 29580 + 2900 + 1000  # plus the proration charges
    assert report.revenue.payments_cents == paid
    cohort = report.cohorts
    assert sum(c.customers for c in cohort) == 4
    assert sum(c.revenue_cents for c in cohort) == paid
