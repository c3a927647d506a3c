"""Continue-as-new when Temporal suggests it: the lifecycle carries on, nothing repeats."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from db.engine import SessionFactory
from lifecycle.config import load_config
from lifecycle.temporal import DATA_CONVERTER
from tests.conftest import tool
from tests.factories import api_client, auth, make_settings, make_worker, unique_email, write_config
from tests.helpers import eventually, outbox
from tests.workflows.histories import record_history
from workflows import search_attributes
from workflows.customer import CustomerWorkflow
from workflows.messages import workflow_id_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
async def eager_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of its own that suggests continue-as-new after a handful of events."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(tool("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=12",
        ],
        dev_server_startup_timeout=timedelta(seconds=90),
    )
    yield env
    await env.shutdown()


async def test_trial_spans_several_runs_without_losing_or_repeating(
    eager_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    task_queue: str,
    tmp_path: Path,
) -> None:
    trial = {"length": "8s", "reminders": ["6s", "4s", "2s"], "winback": ["2s"]}
    config_path = write_config(tmp_path, trial=trial)
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, config_path=config_path
    )
    worker = make_worker(
        eager_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=load_config(config_path),
    )
    async with worker, api_client(settings, eager_env.client) as http:
        created = await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        )
        customer_id = created.json()["id"]
        rows = await eventually(
            lambda: outbox(sessions, customer_id), lambda r: len(r) == 6, timeout=60
        )
        handle = eager_env.client.get_workflow_handle(workflow_id_for(customer_id))
        snapshot = await handle.query(CustomerWorkflow.snapshot)

        runs = [wf async for wf in eager_env.client.list_workflows(f'WorkflowId = "{handle.id}"')]

    assert [r.template for r in rows] == [
        "welcome",
        "trial_reminder",
        "trial_reminder",
        "trial_reminder",
        "trial_expired",
        "trial_winback",
    ]
    assert snapshot.state.status == "trial_expired"
    assert len(runs) > 1, "the workflow never continued as new"
    assert sum(r.status == WorkflowExecutionStatus.CONTINUED_AS_NEW for r in runs) == len(runs) - 1
    ordered = sorted(runs, key=lambda r: r.start_time)
    for name, run in (("first", ordered[0]), ("last", ordered[-1])):
        run_handle = eager_env.client.get_workflow_handle(handle.id, run_id=run.run_id)
        await record_history(run_handle, f"continue_as_new_{name}_run")
