"""Churn prevention in the customer's workflow, on the time-skipping server: the save flow's
exit reason and offers taken in one command (a discount on the next invoice, a pause, a
downgrade, more trial days), and offers sent by campaigns or the churn run (once per id,
not to customers they do not fit, taken at conversion)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from adapters.payments.stripe_objects import parse_event
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer, Invoice, Notification
from domain.lifecycle import BillingInterval
from tests.factories.histories import record_history
from tests.factories.policies import days
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.workers import make_simulator
from tests.factories.workflows import Started
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    AcceptOffer,
    CancelSubscription,
    ChangeSubscription,
    CommandResult,
    MakeOffer,
    RequestCancellation,
)

MONTH = BillingInterval.MONTH
ACTOR = "app:test"


async def _subscribe(started: Started, plan: str = "starter") -> CommandResult:
    return await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(plan=plan, interval=MONTH, actor=ACTOR, payment_method="pm_card_visa"),
    )


async def _refused(started: Started, update: Any, command: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as exc:
        await started.handle.execute_update(update, command)
    cause = exc.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


async def _invoice_totals(sessions: SessionFactory, customer_id: str) -> list[int]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Invoice).where(Invoice.customer_id == customer_id).order_by(Invoice.created_at)
        )
        return [i.amount_paid_cents for i in rows]


async def test_save_flow_discount_withdraws_the_cancellation_and_discounts_the_renewal(
    started: Started, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    cid = started.customer.id
    await _subscribe(started)
    await started.update(
        CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR, at_period_end=True)
    )
    await started.update(
        CustomerWorkflow.request_cancellation,
        RequestCancellation(reason="too_expensive", offers=("coupon", "pause"), actor=ACTOR),
    )
    result = await started.update(
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="coupon", actor=ACTOR, reason="too_expensive", coupon="SAVE30"),
    )
    assert (result.state.status, result.state.cancel_at_period_end) == ("active", False)
    rows = await ledger(sessions, cid)
    assert [r.kind for r in rows][-4:] == [
        "cancellation_scheduled",
        "cancellation_requested",
        "cancellation_withdrawn",
        "offer_accepted",
    ]
    assert rows[-3].data == {"reason": "too_expensive", "offers": ["coupon", "pause"]}
    accepted = rows[-1].data
    assert (accepted["kind"], accepted["source"], accepted["coupon"]) == (
        "coupon",
        "save_flow",
        "SAVE30",
    )

    # The same kind again within 180 days is refused, in the validator.
    message = await _refused(
        started,
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="coupon", actor=ACTOR, reason="too_expensive", coupon="SAVE30"),
    )
    assert "taken recently" in message

    # The renewals (on the simulator's clock) take the discount once: 30 % off 29.00.
    simulator = make_simulator(sessions, engine_config)
    assert isinstance(simulator, SimulatedGateway)
    async with sessions() as session:
        customer = await session.get(Customer, cid)
        assert customer is not None and customer.provider_customer_id is not None
        provider_customer = customer.provider_customer_id
    paid = []
    for _ in range(2):
        for raw in await simulator.advance_to_period_end(provider_customer):
            event = parse_event(raw)
            if event.type == "invoice.paid":
                assert event.invoice is not None
                paid.append(event.invoice.amount_paid_cents)
    assert paid == [2030, 2900]
    await record_history(started.handle, "save_flow_discount")


async def test_save_flow_pause_and_downgrade(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    cid = started.customer.id
    await _subscribe(started, "pro")
    # A downgrade must be to a cheaper plan.
    message = await _refused(
        started,
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="downgrade", actor=ACTOR, reason="other", plan="pro", interval=MONTH),
    )
    assert "not cheaper" in message
    result = await started.update(
        CustomerWorkflow.accept_offer,
        AcceptOffer(
            kind="downgrade", actor=ACTOR, reason="too_expensive", plan="starter", interval=MONTH
        ),
    )
    assert result.state.scheduled_change is not None
    assert result.state.scheduled_change.plan == "starter"
    now = await time_skipping_env.get_current_time()
    result = await started.update(
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="pause", actor=ACTOR, reason="temporary_pause", days=30),
    )
    assert result.state.status == "paused"
    assert result.state.pause_resumes_at is not None
    assert abs(result.state.pause_resumes_at - (now + days(30))) < timedelta(minutes=5)
    kinds = [r.kind for r in await ledger(sessions, cid)]
    assert kinds[-4:] == [
        "plan_change_scheduled",
        "offer_accepted",
        "subscription_paused",
        "offer_accepted",
    ]
    await record_history(started.handle, "save_flow_pause_and_downgrade")


async def test_expired_trial_takes_more_days(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    await time_skipping_env.sleep(days(14) + timedelta(hours=1))
    await eventually(started.snapshot, lambda s: s.state.status == "trial_expired")
    # An active customer's offers do not fit an expired trial.
    message = await _refused(
        started,
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="pause", actor=ACTOR, reason="not_using", days=30),
    )
    assert "pause" in message
    await started.update(
        CustomerWorkflow.request_cancellation,
        RequestCancellation(reason="not_using", offers=("extend_trial",), actor=ACTOR),
    )
    result = await started.update(
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="extend_trial", actor=ACTOR, reason="not_using", days=7),
    )
    assert result.state.status == "trialing"
    rows = await ledger(sessions, started.customer.id)
    assert [r.kind for r in rows][-3:] == [
        "cancellation_requested",
        "trial_extended",
        "offer_accepted",
    ]
    assert rows[-2].data["reason"] == "save offer (not_using)"
    await record_history(started.handle, "save_flow_trial_extended")


async def test_an_offer_is_sent_once_and_taken_at_conversion(
    started: Started, sessions: SessionFactory
) -> None:
    cid = started.customer.id
    offer = MakeOffer(
        offer_id="campaign:spring",
        source="campaign",
        headline="30% off your first month",
        coupon="SAVE30",
    )
    await started.handle.signal(CustomerWorkflow.make_offer, offer)
    await started.handle.signal(CustomerWorkflow.make_offer, offer)
    await eventually(lambda: ledger(sessions, cid), lambda rows: rows[-1].kind == "offer_sent")
    # The ledger row first; the email and the notice follow.
    emails = await eventually(
        lambda: outbox(sessions, cid), lambda rows: [e.template for e in rows][-1] == "offer"
    )
    assert [e.template for e in emails] == ["welcome", "offer"]
    assert emails[-1].data["headline"] == "30% off your first month"

    async def notices() -> list[str]:
        async with sessions() as session:
            rows = await session.scalars(
                select(Notification.kind).where(Notification.customer_id == cid)
            )
            return list(rows)

    await eventually(notices, lambda kinds: kinds == ["offer"])

    message = await _refused(
        started,
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="coupon", actor=ACTOR, offer_id="campaign:other"),
    )
    assert "no offer" in message
    await started.update(
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="coupon", actor=ACTOR, offer_id="campaign:spring"),
    )
    message = await _refused(
        started,
        CustomerWorkflow.accept_offer,
        AcceptOffer(kind="coupon", actor=ACTOR, offer_id="campaign:spring"),
    )
    assert "already taken" in message
    await _subscribe(started)
    assert await _invoice_totals(sessions, cid) == [2030]
    kinds = [r.kind for r in await ledger(sessions, cid)]
    assert kinds.count("offer_sent") == 1
    assert kinds[-3:] == ["offer_sent", "offer_accepted", "trial_converted"]
    await record_history(started.handle, "offer_sent_and_taken_at_conversion")


async def test_an_offer_that_does_not_fit_is_recorded_not_sent(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    cid = started.customer.id
    await _subscribe(started)
    await started.update(
        CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR, at_period_end=False)
    )
    churn = MakeOffer(
        offer_id="churn:2026-12-01",
        source="churn_prevention",
        headline="30% off",
        coupon="SAVE30",
        quiet_days=90,
    )
    await started.handle.signal(CustomerWorkflow.make_offer, churn)
    await eventually(lambda: ledger(sessions, cid), lambda rows: rows[-1].kind == "offer_not_sent")
    assert (await ledger(sessions, cid))[-1].data["why"] == "status canceled"
    assert "offer" not in [e.template for e in await outbox(sessions, cid)]
    await record_history(started.handle, "offer_not_sent")


async def test_churn_offers_keep_quiet_between_sends(
    started: Started, sessions: SessionFactory, time_skipping_env: WorkflowEnvironment
) -> None:
    cid = started.customer.id

    def churn(day: str) -> MakeOffer:
        return MakeOffer(
            offer_id=f"churn:{day}",
            source="churn_prevention",
            headline="30% off",
            coupon="SAVE30",
            quiet_days=90,
        )

    await started.handle.signal(CustomerWorkflow.make_offer, churn("2026-12-01"))
    await eventually(lambda: ledger(sessions, cid), lambda rows: rows[-1].kind == "offer_sent")
    await time_skipping_env.sleep(days(3))
    await started.handle.signal(CustomerWorkflow.make_offer, churn("2026-12-04"))
    await eventually(lambda: ledger(sessions, cid), lambda rows: rows[-1].kind == "offer_not_sent")
    assert "within 90 days" in (await ledger(sessions, cid))[-1].data["why"]
