"""The trial on the time-skipping server: real durations, exact emails at exact times."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig, load_config
from core.settings import REPO_ROOT
from db.engine import SessionFactory
from domain.policy import Policy
from tests.factories.customers import insert_customer, store_terms
from tests.factories.histories import record_history
from tests.factories.policies import days, make_policy
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.workers import make_worker
from workflows.customer import GENERATION, CustomerWorkflow
from workflows.messages import CustomerSnapshot, CustomerWorkflowInput, workflow_id_for


def _worker(env: WorkflowEnvironment, task_queue: str, sessions: SessionFactory, policy: Policy):
    config = load_config(REPO_ROOT / "lifecycle.toml")
    return make_worker(
        env.client, task_queue=task_queue, sessions=sessions, config=config, policy=policy
    )


async def _start(env, task_queue, sessions, customer_id, signed_up_at, policy) -> WorkflowHandle:
    """As the API starts a customer's workflow: the terms by version, this generation."""
    config = load_config(REPO_ROOT / "lifecycle.toml")
    version = await store_terms(sessions, config, policy)
    return await env.client.start_workflow(
        CustomerWorkflow.run,
        CustomerWorkflowInput(
            customer_id=customer_id,
            signed_up_at=signed_up_at,
            terms_version=version,
            generation=GENERATION,
        ),
        id=workflow_id_for(customer_id),
        task_queue=task_queue,
    )


def _close(actual: timedelta, expected: timedelta) -> bool:
    return abs(actual - expected) < timedelta(seconds=5)


async def test_whole_trial_sends_each_email_once_at_its_time(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = time_skipping_env
    policy = make_policy(engine_config)  # 14 days, reminders 7/3/1 days, win-backs 3/7 days
    start = await env.get_current_time()
    customer = await insert_customer(sessions, policy=policy, signed_up_at=start)

    async with _worker(env, task_queue, sessions, policy):
        handle = await _start(env, task_queue, sessions, customer.id, start, policy)
        await eventually(lambda: outbox(sessions, customer.id), lambda rows: len(rows) == 1)

        await env.sleep(days(14) + timedelta(hours=1))
        snapshot = await eventually(
            lambda: handle.query(CustomerWorkflow.snapshot),
            lambda s: s.state.status == "trial_expired",
        )
        assert isinstance(snapshot, CustomerSnapshot)
        assert snapshot.next_action is not None
        assert snapshot.next_action.key.startswith("trial_winback:")

        await env.sleep(days(8))
        emails = await eventually(lambda: outbox(sessions, customer.id), lambda r: len(r) == 7)
        await record_history(handle, "trial_to_winback")

    expected = [
        ("welcome", days(0), {}),
        ("trial_reminder", days(7), {"days_left": 7}),
        ("trial_reminder", days(11), {"days_left": 3}),
        ("trial_reminder", days(13), {"days_left": 1}),
        ("trial_expired", days(14), {}),
        ("trial_winback", days(17), {"days_since_expiry": 3}),
        ("trial_winback", days(21), {"days_since_expiry": 7}),
    ]
    assert [e.template for e in emails] == [t for t, _, _ in expected]
    for email, (template, offset, data) in zip(emails, expected, strict=True):
        assert _close(email.created_at - start, offset), (template, email.created_at - start)
        assert email.status == "sent"
        assert email.to_email == customer.email
        for key, value in data.items():
            assert email.data[key] == value
    assert len({e.idempotency_key for e in emails}) == 7

    events = await ledger(sessions, customer.id)
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        ("trial_started", None, "trialing"),
        ("trial_expired", "trialing", "trial_expired"),
    ]


async def test_reminders_that_would_precede_sign_up_are_skipped_not_sent_late(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    env = time_skipping_env
    policy = make_policy(engine_config, length="2d", reminders=["7d", "3d", "1d"], winback=[])
    start = await env.get_current_time()
    customer = await insert_customer(sessions, policy=policy, signed_up_at=start)
    async with _worker(env, task_queue, sessions, policy):
        handle = await _start(env, task_queue, sessions, customer.id, start, policy)
        await env.sleep(days(3))
        await eventually(
            lambda: handle.query(CustomerWorkflow.snapshot),
            lambda s: s.state.status == "trial_expired" and s.next_action is None,
        )
        emails = await eventually(lambda: outbox(sessions, customer.id), lambda r: len(r) == 3)
    assert [e.template for e in emails] == ["welcome", "trial_reminder", "trial_expired"]
    assert emails[1].data["days_left"] == 1
    assert _close(emails[1].created_at - start, days(1))


async def test_a_new_run_carries_the_state_and_sends_nothing_twice(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """What continue-as-new hands over: the next run resumes the timetable where it was."""
    env = time_skipping_env
    policy = make_policy(engine_config)
    start = await env.get_current_time()
    customer = await insert_customer(sessions, policy=policy, signed_up_at=start)
    async with _worker(env, task_queue, sessions, policy):
        first = await _start(env, task_queue, sessions, customer.id, start, policy)
        await env.sleep(days(8))
        snapshot = await eventually(
            lambda: first.query(CustomerWorkflow.snapshot),
            lambda s: any(k.startswith("trial_reminder:604800") for k in s.state.done),
        )
        await first.terminate("simulating the end of a run")
        carried = snapshot.state

        second = await env.client.start_workflow(
            CustomerWorkflow.run,
            CustomerWorkflowInput(
                customer_id=customer.id,
                signed_up_at=start,
                policy=policy,
                catalog=engine_config.catalog,
                state=carried,
            ),
            id=workflow_id_for(customer.id),
            task_queue=task_queue,
        )
        await env.sleep(days(7))
        await eventually(
            lambda: second.query(CustomerWorkflow.snapshot),
            lambda s: s.state.status == "trial_expired",
        )
        emails = await eventually(lambda: outbox(sessions, customer.id), lambda r: len(r) == 5)
    assert [e.template for e in emails] == [
        "welcome",
        "trial_reminder",
        "trial_reminder",
        "trial_reminder",
        "trial_expired",
    ]
    assert [e.kind for e in await ledger(sessions, customer.id)] == [
        "trial_started",
        "trial_expired",
    ]
