"""Usage tests: the real API on a real PostgreSQL database; the Temporal dev server only
answers signals (customers inserted directly have no workflow)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories import api_client, make_settings
from tests.usage.support import NewCustomer, make_customer


@pytest.fixture
async def http(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as client:
        yield client


@pytest.fixture
def new_customer(sessions: SessionFactory, engine_config: EngineConfig) -> NewCustomer:
    async def create(**kwargs: Any) -> str:
        return await make_customer(sessions, engine_config, **kwargs)

    return create
