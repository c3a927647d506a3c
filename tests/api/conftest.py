"""Fixtures of the API tests: the app on the dev server without a worker (``client``), and
the app with a real worker, a webhook secret and the embedded simulator as the payment
provider (``http``, with ``simulator`` over the same database), which the webhook,
simulator and hostile-input tests share. A folder's own conftest or a test module may
define its own ``http``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories.apps import api_client
from tests.factories.settings import make_settings
from tests.factories.webhooks import SECRET
from tests.factories.workers import make_worker


@pytest.fixture
async def client(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as http:
        yield http


@pytest.fixture
async def http(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        stripe_webhook_secret=SECRET,
        stripe_api_key=None,
    )
    async with (
        make_worker(
            dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
        ),
        api_client(settings, dev_server_env.client) as client,
    ):
        yield client


@pytest.fixture
def simulator(sessions: SessionFactory, engine_config: EngineConfig) -> SimulatedGateway:
    """The simulator over the app's database: the Stripe the API and the worker talk to."""
    return SimulatedGateway(sessions, engine_config.catalog)
