"""Emails the worker writes speak the customer's stored locale, read when each is written."""

from __future__ import annotations

from datetime import timedelta

from babel.dates import format_date
from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer
from tests.factories.customers import insert_customer, store_terms
from tests.factories.policies import days, make_policy
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.workers import make_worker
from workflows.customer import GENERATION, CustomerWorkflow
from workflows.messages import CustomerWorkflowInput, workflow_id_for


async def test_a_german_customer_gets_german_emails_then_japanese_after_a_change(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = time_skipping_env
    policy = make_policy(engine_config)  # 14 days, reminders 7/3/1 days before the end
    start = await env.get_current_time()
    customer = await insert_customer(sessions, policy=policy, signed_up_at=start, locale="de")
    assert customer.trial_ends_at is not None
    async with make_worker(
        env.client, task_queue=task_queue, sessions=sessions, config=engine_config, policy=policy
    ):
        await _start(env, sessions, engine_config, task_queue, customer, policy)
        [welcome] = await eventually(lambda: outbox(sessions, customer.id), lambda r: len(r) == 1)
        # Written in the outbox (its commit is the delivery; the dispatcher sends it after).
        assert welcome.template == "welcome"
        assert welcome.subject is not None and welcome.body is not None
        assert welcome.subject.startswith("Willkommen bei ")
        assert welcome.body.startswith("Hallo Ada Lovelace,\n\n")
        ends_on = format_date(customer.trial_ends_at, format="long", locale="de")
        assert f"Ihre Testphase endet am {ends_on}." in welcome.body

        # The change reaches the next email; the one already written keeps its language.
        async with sessions.begin() as session:
            await session.execute(
                update(Customer).where(Customer.id == customer.id).values(locale="ja")
            )
        await env.sleep(days(7) + timedelta(hours=1))
        emails = await eventually(lambda: outbox(sessions, customer.id), lambda r: len(r) == 2)
    reminder = emails[1]
    assert reminder.template == "trial_reminder"
    assert reminder.subject is not None and reminder.body is not None
    assert "トライアル終了まであと7日" in reminder.subject
    assert format_date(customer.trial_ends_at, format="long", locale="ja") in reminder.body
    assert emails[0].subject == welcome.subject


async def _start(env, sessions, config, task_queue, customer, policy) -> None:
    """As the API starts a customer's workflow: the terms by version, this generation."""
    version = await store_terms(sessions, config, policy)
    await env.client.start_workflow(
        CustomerWorkflow.run,
        CustomerWorkflowInput(
            customer_id=customer.id,
            signed_up_at=customer.trial_started_at,
            terms_version=version,
            generation=GENERATION,
        ),
        id=workflow_id_for(customer.id),
        task_queue=task_queue,
    )
