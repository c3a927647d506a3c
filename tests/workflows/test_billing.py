"""Paid plans on the time-skipping server: conversion, plan changes, cancel, pause, refusals.

Payments go through the embedded simulator (the edge), on the server's clock, so billing
periods and the workflow's timers agree; everything else is real.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer, Invoice
from domain.lifecycle import BillingInterval
from domain.proration import prorate_change
from tests.factories.histories import record_history
from tests.factories.policies import days
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.workflows import Started
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    CommandResult,
    PauseSubscription,
    ReactivateSubscription,
    ResumeSubscription,
)

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR
ACTOR = "app:test"


async def _subscribe(
    started: Started, plan: str = "starter", interval: BillingInterval = MONTH, **kwargs: Any
) -> CommandResult:
    return await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(
            plan=plan,
            interval=interval,
            actor=ACTOR,
            payment_method=kwargs.pop("payment_method", "pm_card_visa"),
            **kwargs,
        ),
    )


def _period(snapshot: CommandResult) -> tuple[datetime, datetime]:
    start, end = snapshot.state.current_period_start, snapshot.state.current_period_end
    assert start is not None and end is not None
    return start, end


async def _row(sessions: SessionFactory, customer_id: str) -> Customer:
    async with sessions() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        return customer


async def _invoices(sessions: SessionFactory, customer_id: str) -> list[Invoice]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Invoice).where(Invoice.customer_id == customer_id).order_by(Invoice.created_at)
        )
        return list(rows)


async def _templates(sessions: SessionFactory, customer_id: str) -> list[str]:
    return [e.template for e in await outbox(sessions, customer_id)]


def _refusal(exc: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> ApplicationError:
    cause = exc.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


async def test_convert_from_trial_charges_the_plan_and_stops_the_trial_timetable(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    cid = started.customer.id
    snapshot = await _subscribe(started, "pro", MONTH)
    state = snapshot.state
    assert (state.status, state.plan, state.interval, state.mrr_cents) == (
        "active",
        "pro",
        MONTH,
        9900,
    )
    row = await _row(sessions, cid)
    assert (row.status, row.plan, row.interval, row.mrr_cents) == ("active", "pro", "month", 9900)
    assert row.current_period_end is not None
    assert row.payment_method_last4 == "4242"
    invoices = await _invoices(sessions, cid)
    assert [(i.status, i.amount_paid_cents, i.billing_reason) for i in invoices] == [
        ("paid", 9900, "subscription_create")
    ]
    events = await ledger(sessions, cid)
    assert [(e.kind, e.from_status, e.to_status, e.mrr_delta_cents) for e in events][-1] == (
        "trial_converted",
        "trialing",
        "active",
        9900,
    )

    # The trial's reminders and expiry never come.
    await time_skipping_env.sleep(days(15))
    await eventually(started.snapshot, lambda s: s.state.status == "active")
    assert await _templates(sessions, cid) == ["welcome", "trial_converted"]
    await record_history(started.handle, "conversion")


async def test_convert_from_expired_trial_to_annual(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    cid = started.customer.id
    await time_skipping_env.sleep(days(14) + timedelta(hours=1))
    await eventually(started.snapshot, lambda s: s.state.status == "trial_expired")
    snapshot = await _subscribe(started, "starter", YEAR)
    assert snapshot.state.status == "active"
    assert snapshot.state.mrr_cents == 2465  # 29,580 a year, one twelfth a month
    start, end = _period(snapshot)
    period = end - start
    assert timedelta(days=365) <= period <= timedelta(days=366)
    invoices = await _invoices(sessions, cid)
    assert [i.amount_paid_cents for i in invoices] == [29580]
    kinds = [(e.kind, e.from_status) for e in await ledger(sessions, cid)]
    assert kinds[-1] == ("trial_converted", "trial_expired")

    # No win-back after converting.
    await time_skipping_env.sleep(days(8))
    await eventually(started.snapshot, lambda s: s.state.status == "active")
    templates = await _templates(sessions, cid)
    assert "trial_winback" not in templates
    assert templates[-1] == "trial_converted"
    await record_history(started.handle, "expired_trial_to_annual_with_winback")


@pytest.mark.parametrize(
    ("card", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeCustomerFail", "generic_decline"),
    ],
)
async def test_declined_conversion_changes_nothing(
    started: Started, sessions: SessionFactory, card: str, decline_code: str
) -> None:
    cid = started.customer.id
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await _subscribe(started, "pro", MONTH, payment_method=card)
    cause = _refusal(failed)
    assert cause.type == "CardDeclined"
    assert cause.details[0]["decline_code"] == decline_code
    snapshot = await started.snapshot()
    assert (snapshot.state.status, snapshot.state.subscription_id) == ("trialing", None)
    row = await _row(sessions, cid)
    assert (row.status, row.mrr_cents, row.provider_subscription_id) == ("trialing", 0, None)
    assert [e.kind for e in await ledger(sessions, cid)] == ["trial_started"]
    assert all(i.status != "paid" for i in await _invoices(sessions, cid))

    # The customer fixes the card and converts.
    converted = await _subscribe(started, "pro", MONTH, payment_method="pm_card_visa")
    assert converted.state.status == "active"
    await record_history(started.handle, f"declined_conversion_{decline_code}")


async def test_upgrade_applies_now_and_charges_the_proration(
    started: Started,
    sessions: SessionFactory,
    time_skipping_env: WorkflowEnvironment,
    engine_config: EngineConfig,
) -> None:
    cid = started.customer.id
    first = await _subscribe(started, "starter", MONTH)
    await time_skipping_env.sleep(days(10))
    now = await time_skipping_env.get_current_time()
    snapshot = await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(plan="pro", interval=MONTH, actor=ACTOR),
    )
    state = snapshot.state
    assert (state.plan, state.interval, state.mrr_cents, state.scheduled_change) == (
        "pro",
        MONTH,
        9900,
        None,
    )
    invoices = await _invoices(sessions, cid)
    assert [i.billing_reason for i in invoices] == ["subscription_create", "subscription_update"]
    proration = invoices[-1]
    expected = prorate_change(
        2900,
        9900,
        *_period(first),
        proration.created_at,
    )
    assert proration.amount_paid_cents == expected.amount_due_cents
    assert 0 < proration.amount_paid_cents < 9900 - 2900
    assert abs(proration.created_at - now) < timedelta(minutes=5)
    change = [e for e in await ledger(sessions, cid) if e.kind == "plan_changed"]
    assert [(c.plan, c.mrr_delta_cents, c.data["change"]) for c in change] == [
        ("pro", 7000, "upgrade")
    ]
    emails = await outbox(sessions, cid)
    assert emails[-1].template == "plan_changed"
    assert emails[-1].data["amount_cents"] == proration.amount_paid_cents
    await record_history(started.handle, "upgrade_now")


async def test_downgrade_waits_for_the_period_end(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    cid = started.customer.id
    first = await _subscribe(started, "pro", MONTH)
    period_end = _period(first)[1]
    snapshot = await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(plan="starter", interval=MONTH, actor=ACTOR),
    )
    assert snapshot.state.plan == "pro"
    assert snapshot.state.scheduled_change is not None
    assert snapshot.state.scheduled_change.plan == "starter"
    assert snapshot.state.scheduled_change.effective_at == period_end
    row = await _row(sessions, cid)
    assert row.scheduled_change == {
        "plan": "starter",
        "interval": "month",
        "effective_at": period_end.isoformat(),
    }
    assert len(await _invoices(sessions, cid)) == 1  # nothing charged now

    await time_skipping_env.sleep(period_end - await time_skipping_env.get_current_time())
    await time_skipping_env.sleep(timedelta(minutes=5))
    changed = await eventually(started.snapshot, lambda s: s.state.plan == "starter")
    assert changed.state.scheduled_change is None
    assert changed.state.mrr_cents == 2900
    changes = [e for e in await ledger(sessions, cid) if e.kind == "plan_changed"]
    assert [(c.plan, c.mrr_delta_cents, c.data["change"]) for c in changes] == [
        ("starter", -7000, "downgrade")
    ]
    assert abs(changes[0].occurred_at - period_end) < timedelta(minutes=1)
    assert (await _templates(sessions, cid))[-1] == "plan_changed"
    await record_history(started.handle, "downgrade_at_period_end")


async def test_downgrade_now_when_asked(started: Started, sessions: SessionFactory) -> None:
    await _subscribe(started, "pro", MONTH)
    snapshot = await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(plan="starter", interval=MONTH, actor=ACTOR, when="now"),
    )
    assert (snapshot.state.plan, snapshot.state.scheduled_change) == ("starter", None)


async def test_cancel_now(started: Started, sessions: SessionFactory) -> None:
    cid = started.customer.id
    await _subscribe(started, "pro", MONTH)
    snapshot = await started.update(
        CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR, at_period_end=False)
    )
    assert (snapshot.state.status, snapshot.state.mrr_cents) == ("canceled", 0)
    last = (await ledger(sessions, cid))[-1]
    assert (last.kind, last.from_status, last.to_status, last.mrr_delta_cents) == (
        "subscription_canceled",
        "active",
        "canceled",
        -9900,
    )
    assert last.data["voluntary"] is True
    assert (await _templates(sessions, cid))[-1] == "subscription_canceled"
    await record_history(started.handle, "cancel_now")


async def test_cancel_at_period_end_then_ends(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    cid = started.customer.id
    first = await _subscribe(started, "starter", MONTH)
    snapshot = await started.update(
        CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR, at_period_end=True)
    )
    assert (snapshot.state.status, snapshot.state.cancel_at_period_end) == ("active", True)
    assert (await _row(sessions, cid)).cancel_at_period_end is True
    emails = await outbox(sessions, cid)
    assert emails[-1].template == "subscription_canceled"
    assert emails[-1].data["at_period_end"] is True

    period_end = _period(first)[1]
    await time_skipping_env.sleep(period_end - await time_skipping_env.get_current_time())
    await time_skipping_env.sleep(timedelta(minutes=5))
    await eventually(started.snapshot, lambda s: s.state.status == "canceled")
    last = (await ledger(sessions, cid))[-1]
    assert (last.kind, last.mrr_delta_cents, last.data["reason"]) == (
        "subscription_canceled",
        -2900,
        "cancel_at_period_end",
    )
    assert abs(last.occurred_at - period_end) < timedelta(minutes=1)
    # One cancellation email: at the request, not again at the end.
    assert (await _templates(sessions, cid)).count("subscription_canceled") == 1
    await record_history(started.handle, "cancel_at_period_end")


async def test_reactivate_before_period_end_keeps_the_subscription(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    first = await _subscribe(started, "starter", MONTH)
    await started.update(
        CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR, at_period_end=True)
    )
    snapshot = await started.update(
        CustomerWorkflow.reactivate, ReactivateSubscription(actor=ACTOR)
    )
    assert snapshot.state.cancel_at_period_end is False
    period_end = _period(first)[1]
    await time_skipping_env.sleep(period_end - await time_skipping_env.get_current_time())
    await time_skipping_env.sleep(timedelta(hours=1))
    assert (await started.snapshot()).state.status == "active"
    kinds = [e.kind for e in await ledger(sessions, started.customer.id)]
    assert kinds[-2:] == ["cancellation_scheduled", "cancellation_withdrawn"]
    assert (await _templates(sessions, started.customer.id))[-1] == "subscription_reactivated"
    await record_history(started.handle, "cancel_then_reactivate")


async def test_pause_and_resume(started: Started, sessions: SessionFactory) -> None:
    cid = started.customer.id
    await _subscribe(started, "pro", MONTH)
    paused = await started.update(CustomerWorkflow.pause, PauseSubscription(actor=ACTOR))
    assert (paused.state.status, paused.state.mrr_cents) == ("paused", 0)
    resumed = await started.update(CustomerWorkflow.resume, ResumeSubscription(actor=ACTOR))
    assert (resumed.state.status, resumed.state.mrr_cents) == ("active", 9900)
    movements = [(e.kind, e.mrr_delta_cents) for e in await ledger(sessions, cid)][-2:]
    assert movements == [("subscription_paused", -9900), ("subscription_resumed", 9900)]
    assert (await _templates(sessions, cid))[-2:] == [
        "subscription_paused",
        "subscription_resumed",
    ]
    await record_history(started.handle, "pause_resume")


async def test_pause_until_a_date_resumes_by_itself(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    await _subscribe(started, "starter", MONTH)
    resumes_at = await time_skipping_env.get_current_time() + days(5)
    await started.update(
        CustomerWorkflow.pause, PauseSubscription(actor=ACTOR, resumes_at=resumes_at)
    )
    assert (await _row(sessions, started.customer.id)).pause_resumes_at == resumes_at
    await time_skipping_env.sleep(days(5) + timedelta(minutes=1))
    snapshot = await eventually(started.snapshot, lambda s: s.state.status == "active")
    assert snapshot.state.pause_resumes_at is None
    await record_history(started.handle, "pause_until_date")


@pytest.mark.parametrize(
    ("update", "command"),
    [
        (CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR)),
        (CustomerWorkflow.reactivate, ReactivateSubscription(actor=ACTOR)),
        (CustomerWorkflow.pause, PauseSubscription(actor=ACTOR)),
        (CustomerWorkflow.resume, ResumeSubscription(actor=ACTOR)),
        (
            CustomerWorkflow.change_subscription,
            ChangeSubscription(plan="enterprise", interval=MONTH, actor=ACTOR),
        ),
        (
            CustomerWorkflow.change_subscription,
            ChangeSubscription(plan="platinum", interval=MONTH, actor=ACTOR),
        ),
    ],
)
async def test_commands_not_allowed_during_the_trial_are_refused(
    started: Started, sessions: SessionFactory, update, command
) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await started.update(update, command)
    assert _refusal(failed).type == "TransitionRefused"
    assert (await started.snapshot()).state.status == "trialing"
    assert [e.kind for e in await ledger(sessions, started.customer.id)] == ["trial_started"]


async def test_same_plan_twice_is_refused(started: Started) -> None:
    await _subscribe(started, "starter", MONTH)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await started.update(
            CustomerWorkflow.change_subscription,
            ChangeSubscription(plan="starter", interval=MONTH, actor=ACTOR),
        )
    assert "already on starter/month" in _refusal(failed).message
