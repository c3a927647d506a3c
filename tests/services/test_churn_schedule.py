"""The daily churn run as Temporal runs it: the Schedule is created then updated in place,
and a triggered run trains on the database's history and scores its paying customers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from activities.analytics import ChurnRunResult
from core.config import EngineConfig
from db.models import ChurnModelRow, ChurnScore
from services.temporal_setup import ensure_churn_schedule
from tests.factories.churn import generated_histories, write_histories
from tests.factories.databases import Database
from tests.factories.schedules import clean_schedule, trigger_once
from tests.factories.workers import make_worker
from workflows.analytics import CHURN_SCHEDULE_ID


@pytest.fixture
async def schedule_client(dev_server_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    async with clean_schedule(dev_server_env.client, CHURN_SCHEDULE_ID) as client:
        yield client


async def test_the_churn_schedule_is_created_then_updated_in_place(
    schedule_client: Client, task_queue: str
) -> None:
    assert await ensure_churn_schedule(schedule_client, task_queue="elsewhere") == "created"
    handle = schedule_client.get_schedule_handle(CHURN_SCHEDULE_ID)
    assert await ensure_churn_schedule(schedule_client, task_queue=task_queue) == "updated"
    description = await handle.describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("ChurnModelRun", task_queue)
    assert [i.every for i in description.schedule.spec.intervals] == [timedelta(days=1)]
    assert description.info.num_actions == 0, "creating or updating runs nothing"


async def test_a_triggered_run_trains_and_scores(
    schedule_client: Client,
    own_database: Database,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    client = schedule_client
    now = datetime.now(UTC)
    # Forty weeks ending now: the run trains on the history before its start.
    histories = generated_histories(customers=300, weeks=40, start=now - timedelta(weeks=40))
    await write_histories(own_database.sessions, histories, now=now)
    await ensure_churn_schedule(client, task_queue=task_queue)
    worker = make_worker(
        client, task_queue=task_queue, sessions=own_database.sessions, config=engine_config
    )
    async with worker:
        result = await trigger_once(client, CHURN_SCHEDULE_ID, ChurnRunResult)
    assert result.method == "logistic_regression" and result.roc_auc is not None
    async with own_database.sessions() as session:
        assert await session.scalar(select(ChurnModelRow.version)) == result.version
        assert await session.scalar(select(func.count()).select_from(ChurnScore)) == result.scored
    assert result.scored > 0
