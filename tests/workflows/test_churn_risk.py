"""The daily churn run's band reaches the customer's workflow as the ``ChurnRisk`` search
attribute, through the teller the worker wires in (a gone workflow is skipped)."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from services.churn_signals import risk_teller
from tests.factories.histories import record_history
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
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


async def test_turning_high_risk_sends_the_proactive_offer_once(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = time_skipping_env
    async with make_worker(
        env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    ):
        high = await start_customer(env, sessions, engine_config, task_queue)
        low = await start_customer(env, sessions, engine_config, task_queue)
        tell = risk_teller(env.client, engine_config.save_flow)
        await tell([(high.customer.id, "high"), (low.customer.id, "low")])
        # The run retried (the same day): nothing is sent twice.
        await tell([(high.customer.id, "high")])
        rows = await eventually(
            lambda: ledger(sessions, high.customer.id),
            lambda rows: any(r.kind == "offer_sent" for r in rows),
        )
        await eventually(
            lambda: outbox(sessions, high.customer.id),
            lambda emails: [e.template for e in emails] == ["welcome", "offer"],
        )
        sent = [r for r in rows if r.kind == "offer_sent"]
        assert len(sent) == 1
        assert sent[0].data["source"] == "churn_prevention"
        assert sent[0].data["coupon"] == engine_config.save_flow.proactive_coupon
        assert "offer_sent" not in [r.kind for r in await ledger(sessions, low.customer.id)]
