"""The worker of the workflow tests that drive one customer on the time-skipping server:
the real activities, payments through the embedded simulator (``started``, the customer,
is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories.workers import make_worker


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
