"""A provider event about a price the catalog does not know leaves the customer workable.

Before: a ``plan_`` lookup key outside the catalog raised ``KeyError`` in the signal handler
(which caught only ``ApplicationError``): the workflow task failed and retried forever, no
later event applied, and every command answered 503.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, cast

from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from core.config import EngineConfig
from db.engine import SessionFactory
from domain.lifecycle import BillingInterval
from domain.payments import PaymentEvent, PriceRef, SubscriptionInfo
from tests.factories.polling import eventually
from tests.factories.records import ledger
from tests.factories.workers import make_simulator, make_worker
from tests.factories.workflows import start_customer
from workflows.customer import CustomerWorkflow
from workflows.messages import CancelSubscription, ChangeSubscription, CommandResult

ACTOR = "app:test"


async def _update(handle: Any, update: Any, command: Any) -> CommandResult:
    return cast(CommandResult, await handle.execute_update(update, command))


class ForeignPrice:
    """The simulator, reporting the subscription on a price set up outside the engine (a
    Dashboard edit): lookup key ``plan_unknown_month``."""

    def __init__(self, inner: SimulatedGateway) -> None:
        self._inner = inner
        self.foreign = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        found = await self._inner.get_subscription(subscription_id)
        if not self.foreign:
            return found
        return dataclasses.replace(found, price=PriceRef("unknown", BillingInterval.MONTH))


async def test_a_price_outside_the_catalog_is_recorded_and_the_customer_stays_workable(
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = dev_server_env
    simulator = make_simulator(sessions, engine_config)
    assert isinstance(simulator, SimulatedGateway)
    gateway = ForeignPrice(simulator)
    async with make_worker(
        env.client, task_queue=task_queue, sessions=sessions, config=engine_config, gateway=gateway
    ):
        started = await start_customer(env, sessions, engine_config, task_queue)
        converted = await _update(
            started.handle,
            CustomerWorkflow.change_subscription,
            ChangeSubscription(
                plan="pro",
                interval=BillingInterval.MONTH,
                actor=ACTOR,
                payment_method="pm_card_visa",
            ),
        )
        assert converted.state.status == "active"
        snapshot = await started.snapshot()
        subscription_id = snapshot.state.subscription_id
        assert subscription_id is not None
        gateway.foreign = True
        # What Stripe sends is a notice; the workflow reads the subscription itself.
        event = PaymentEvent(
            id="evt_foreign_price",
            type="customer.subscription.updated",
            created=datetime.now(UTC),
            provider_customer_id=snapshot.state.provider_customer_id,
            subscription_id=subscription_id,
        )
        await started.handle.signal(CustomerWorkflow.payment_event, event)
        rows = await eventually(
            lambda: ledger(sessions, started.customer.id),
            lambda r: any(x.kind == "automation_failed" for x in r),
        )
        failed = next(x for x in rows if x.kind == "automation_failed")
        assert "unknown" in failed.data["error"]
        gateway.foreign = False
        # Still workable: a command answers.
        canceled = await _update(
            started.handle,
            CustomerWorkflow.cancel,
            CancelSubscription(actor=ACTOR, at_period_end=True),
        )
        assert canceled.state.status == "active"
        assert (await started.snapshot()).state.plan == "pro"
