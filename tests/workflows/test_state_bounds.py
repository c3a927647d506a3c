"""A customer of years carries a small state, and each command answers in a small result.

Before: every step key and usage notice ever sent stayed in the state (carried into each
new run), and every command answered with the whole state plus the policy, so each one
landed in the history in full.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from adapters.payments.stripe_objects import parse_event
from core.config import EngineConfig
from core.temporal import DATA_CONVERTER
from db.engine import SessionFactory
from db.models import Customer
from domain.catalog import METRICS
from domain.lifecycle import BillingInterval
from tests.factories.histories import record_history
from tests.factories.polling import eventually
from tests.factories.workers import make_simulator, make_worker
from tests.factories.workflows import start_customer
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    CommandResult,
    CustomerSnapshot,
    UsageThresholdCrossed,
)

ACTOR = "app:test"
# A command's answer (a few hundred bytes of JSON); the policy alone used to be 2 KB.
RESULT_BYTES = 1500


async def test_a_year_of_renewals_and_usage_notices_keeps_the_state_small(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = time_skipping_env
    simulator = make_simulator(sessions, engine_config)
    assert isinstance(simulator, SimulatedGateway)
    async with make_worker(
        env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        gateway=simulator,
    ):
        started = await start_customer(env, sessions, engine_config, task_queue)
        handle = started.handle
        converted = cast(
            CommandResult,
            await handle.execute_update(
                CustomerWorkflow.change_subscription,
                ChangeSubscription(
                    plan="pro",
                    interval=BillingInterval.MONTH,
                    actor=ACTOR,
                    payment_method="pm_card_visa",
                ),
            ),
        )
        async with sessions() as session:
            customer = await session.get(Customer, started.customer.id)
            assert customer is not None and customer.provider_customer_id is not None
            provider_customer = customer.provider_customer_id
        period_start = converted.state.current_period_start
        assert period_start is not None
        for _ in range(12):
            for metric in METRICS:
                for threshold in (80, 100):
                    await handle.signal(
                        CustomerWorkflow.usage_threshold,
                        UsageThresholdCrossed(
                            metric=metric,
                            threshold=threshold,
                            period_start=period_start,
                            used=threshold,
                            limit=100,
                        ),
                    )
            for raw in await simulator.advance_to_period_end(provider_customer):
                await handle.signal(CustomerWorkflow.payment_event, parse_event(raw))
            snapshot = await eventually(started.snapshot, _renewed_after(period_start))
            period_start = snapshot.state.current_period_start
            assert period_start is not None
        canceled = cast(
            CommandResult,
            await handle.execute_update(CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR)),
        )
        state = (await started.snapshot()).state
        history = await handle.fetch_history()
        await record_history(handle, "year_of_renewals_and_usage_notices")

    assert canceled.state.cancel_at_period_end is True
    # One period's notices per metric, the current timetable's keys, nothing older.
    assert len(state.usage_notified) == 2 * len(METRICS)
    assert len(state.done) <= 2, state.done
    [payload] = DATA_CONVERTER.payload_converter.to_payloads([canceled])
    assert payload.ByteSize() < RESULT_BYTES
    completed = [
        e.workflow_execution_update_completed_event_attributes.outcome.success
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    ]
    sizes = [sum(p.ByteSize() for p in outcome.payloads) for outcome in completed]
    assert sizes and max(sizes) < RESULT_BYTES, sizes


def _renewed_after(start: datetime) -> Callable[[CustomerSnapshot], bool]:
    def renewed(snapshot: CustomerSnapshot) -> bool:
        current = snapshot.state.current_period_start
        return current is not None and current > start

    return renewed
