from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.factories import api_client, make_settings


@pytest.fixture
async def client(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as http:
        yield http
