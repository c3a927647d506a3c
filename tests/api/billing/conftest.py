"""The billing tests' app: the real API and a real worker, payments on the embedded
simulator, hosted pages under a public URL. A module may define its own ``http``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from core.settings import Settings
from db.engine import SessionFactory
from tests.factories.apps import api_with_worker
from tests.factories.settings import make_settings


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    return make_settings(
        database_url=database_url,
        task_queue=task_queue,
        stripe_api_key=None,
        lifecycle_public_url="http://lifecycle.test:8000",
    )


@pytest.fixture
async def http(
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    engine_config: EngineConfig,
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_with_worker(
        settings, dev_server_env.client, sessions=sessions, config=engine_config
    ) as client:
        yield client
