"""Shared fixtures: real PostgreSQL, real Temporal servers (the helpers they use, and every
other shared helper, live in ``tests/factories``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.config import EngineConfig, load_config
from core.settings import REPO_ROOT
from core.temporal import DATA_CONVERTER
from db.engine import SessionFactory, create_engine, session_factory
from services.temporal_setup import ensure_search_attributes
from tests.factories.customers import NewCustomer, make_customer
from tests.factories.databases import (
    DEFAULT_PG_ADMIN_URL,
    Database,
    create_database,
    drop_database,
)
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.tools import tool
from tests.factories.workflows import Started, start_customer
from workflows import search_attributes


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return os.environ.get("LIFECYCLE_TEST_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL)


@pytest.fixture(scope="session")
async def database_url(pg_admin_url: str) -> AsyncIterator[str]:
    url = await create_database(pg_admin_url)
    yield url
    await drop_database(pg_admin_url, url)


@pytest.fixture(scope="session")
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(db_engine: AsyncEngine) -> SessionFactory:
    return session_factory(db_engine)


@pytest.fixture(scope="session")
def engine_config() -> EngineConfig:
    return load_config(REPO_ROOT / "lifecycle.toml")


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (it starts in about half a second).

    A shared one let tests disturb each other: now and then, after earlier tests, a
    long ``env.sleep`` found time-skipping locked and hung until its RPC timed out, with
    no workflow of the running test holding a task. A server per test has no history
    from other tests, no leftover timers and no lock counts to inherit."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(tool("temporal-test-server")),
        # A JVM on a busy 2-core machine starts slower than the SDK's 5 s default.
        test_server_startup_timeout=timedelta(seconds=90),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(tool("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.enableExecuteMultiOperation=true",
        ],
        dev_server_startup_timeout=timedelta(seconds=90),
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
async def own_database(pg_admin_url: str) -> AsyncIterator[Database]:
    """A fresh, migrated database for one test (tampering, exact counts, purges)."""
    url = await create_database(pg_admin_url, prefix="lc_admin")
    engine = create_engine(url)
    try:
        yield Database(url=url, sessions=session_factory(engine))
    finally:
        await engine.dispose()
        await drop_database(pg_admin_url, url)


@pytest.fixture
def new_customer(sessions: SessionFactory, engine_config: EngineConfig) -> NewCustomer:
    """Inserts a customer in the given state (``make_customer``'s keywords); no workflow."""

    async def create(**kwargs: Any) -> str:
        return await make_customer(sessions, engine_config, **kwargs)

    return create


@pytest.fixture
async def started(
    worker: Worker,
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> Started:
    """A customer whose workflow has started (its welcome email written), on the module's
    or folder's ``worker`` fixture."""
    customer = await start_customer(time_skipping_env, sessions, engine_config, task_queue)
    await eventually(lambda: outbox(sessions, customer.customer.id), lambda r: len(r) == 1)
    return customer
