"""Shared test infrastructure: real PostgreSQL, real Temporal servers, factories."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig, load_config
from core.settings import REPO_ROOT
from core.temporal import DATA_CONVERTER
from db.engine import SessionFactory, create_engine, session_factory
from db.migrate import migrate
from services.temporal_setup import ensure_search_attributes
from workflows import search_attributes

TOOLS_CACHE = Path(
    os.environ.get("LIFECYCLE_TOOLS_CACHE", Path.home() / ".cache" / "lifecycle-engine")
)
DEFAULT_PG_ADMIN_URL = "postgresql+asyncpg://lifecycle:lifecycle@127.0.0.1:5432/postgres"


def tool(name: str) -> Path:
    path = TOOLS_CACHE / "bin" / name
    if not path.exists():
        subprocess.run([str(REPO_ROOT / "scripts" / "tools.sh"), "all"], check=True)
    return path


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return os.environ.get("LIFECYCLE_TEST_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL)


async def create_database(admin_url: str, prefix: str = "lc_test") -> str:
    """A fresh, migrated PostgreSQL database; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    await migrate(url)
    return url


async def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


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
