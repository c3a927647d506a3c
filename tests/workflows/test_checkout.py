"""A Checkout conversion whose first payment completes later (3-D Secure, a delayed method).

Stripe sends ``checkout.session.completed`` while the subscription is still ``incomplete``,
then ``customer.subscription.updated`` (active) or ``checkout.session.async_payment_*``
once the payment settles. Before: the first was ignored for the status, the later ones for
naming a subscription the workflow did not know; the customer paid and stayed a trial.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from core.config import EngineConfig
from db.engine import SessionFactory
from domain.lifecycle import BillingInterval
from domain.payments import PaymentEvent, PriceRef, SubscriptionInfo
from tests.factories.histories import record_history
from tests.factories.polling import eventually
from tests.factories.records import ledger
from tests.factories.workers import make_simulator, make_worker
from tests.factories.workflows import start_customer
from workflows.customer import CustomerWorkflow


class PaymentPending:
    """The simulator, reporting the subscription ``incomplete`` until the payment settles."""

    def __init__(self, inner: SimulatedGateway) -> None:
        self._inner = inner
        self.settled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        found = await self._inner.get_subscription(subscription_id)
        return found if self.settled else dataclasses.replace(found, status="incomplete")


def _event(kind: str, customer_id: str, provider_customer: str, **fields: Any) -> PaymentEvent:
    return PaymentEvent(
        id=f"evt_{uuid.uuid4().hex[:24]}",
        type=kind,
        created=datetime.now(UTC),
        provider_customer_id=provider_customer,
        engine_customer_id=customer_id,
        **fields,
    )


@pytest.mark.parametrize(
    "settles_with", ["customer.subscription.updated", "checkout.session.async_payment_succeeded"]
)
async def test_a_checkout_paid_later_converts_the_trial(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
    settles_with: str,
) -> None:
    env = time_skipping_env
    simulator = make_simulator(sessions, engine_config)
    assert isinstance(simulator, SimulatedGateway)
    pending = PaymentPending(simulator)
    async with make_worker(
        env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        gateway=pending,
    ):
        started = await start_customer(env, sessions, engine_config, task_queue)
        cid = started.customer.id
        # What Checkout did at the provider: a customer, a card, a subscription.
        provider_customer = await simulator.ensure_customer(
            customer_id=cid, email=None, name=None, idempotency_key=f"{cid}:cus"
        )
        await simulator.attach_payment_method(
            provider_customer, "pm_card_visa", idempotency_key=f"{cid}:pm"
        )
        made = await simulator.create_subscription(
            provider_customer_id=provider_customer,
            customer_id=cid,
            price=PriceRef("pro", BillingInterval.MONTH),
            idempotency_key=f"{cid}:sub",
        )
        await started.handle.signal(
            CustomerWorkflow.payment_event,
            _event(
                "checkout.session.completed",
                cid,
                provider_customer,
                checkout_subscription_id=made.id,
            ),
        )
        waiting = await eventually(
            started.snapshot, lambda s: s.state.pending_subscription_id == made.id
        )
        assert waiting.state.status == "trialing"

        pending.settled = True
        current = await simulator.get_subscription(made.id)
        later = (
            _event(settles_with, cid, provider_customer, subscription=current)
            if settles_with.startswith("customer.")
            else _event(settles_with, cid, provider_customer, checkout_subscription_id=made.id)
        )
        await started.handle.signal(CustomerWorkflow.payment_event, later)
        converted = await eventually(started.snapshot, lambda s: s.state.status == "active")
    assert (converted.state.plan, converted.state.subscription_id) == ("pro", made.id)
    assert converted.state.pending_subscription_id is None
    last = (await ledger(sessions, cid))[-1]
    assert (last.kind, last.data["via"]) == ("trial_converted", "checkout")
    await record_history(started.handle, f"checkout_paid_later_by_{settles_with.split('.')[-1]}")
