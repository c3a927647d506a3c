"""Fixtures of the workflow tests that drive one customer on the time-skipping server: a
worker on the real activities (payments through the embedded simulator), and a customer
whose workflow has started (its welcome email sent)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.workers import make_worker
from tests.factories.workflows import Started, start_customer


@pytest.fixture
async def worker(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[Worker]:
    async with make_worker(
        time_skipping_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    ) as running:
        yield running


@pytest.fixture
async def started(
    worker: Worker,
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> Started:
    customer = await start_customer(time_skipping_env, sessions, engine_config, task_queue)
    await eventually(lambda: outbox(sessions, customer.customer.id), lambda r: len(r) == 1)
    return customer
