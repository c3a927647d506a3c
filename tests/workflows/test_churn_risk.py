"""The daily churn run's band reaches the customer's workflow as the ``ChurnRisk`` search
attribute, through the teller the worker wires in (a gone workflow is skipped)."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from services.churn_signals import risk_teller
from tests.factories.histories import record_history
from tests.factories.polling import eventually
from tests.factories.workers import make_worker
from tests.factories.workflows import start_customer
from workflows import search_attributes as sa


async def test_a_told_band_becomes_the_churn_risk_attribute(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = time_skipping_env
    async with make_worker(
        env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    ):
        started = await start_customer(env, sessions, engine_config, task_queue)
        tell = risk_teller(env.client)
        told = await tell([(started.customer.id, "high"), ("no-such-customer", "low")])
        assert told == 1

        async def band() -> str | None:
            described = await started.handle.describe()
            return described.typed_search_attributes.get(sa.CHURN_RISK)

        await eventually(band, lambda value: value == "high")
        await tell([(started.customer.id, "medium")])
        await eventually(band, lambda value: value == "medium")
        await record_history(started.handle, "churn_risk_attribute")
