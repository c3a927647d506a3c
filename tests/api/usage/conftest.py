"""Usage tests: the real API on a real PostgreSQL database; the Temporal dev server only
answers signals (customers inserted directly have no workflow)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.factories.apps import api_client
from tests.factories.settings import make_settings


@pytest.fixture
async def http(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as client:
        yield client
