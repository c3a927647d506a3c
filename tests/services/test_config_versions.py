"""Change management: each config a process loads is stored once by its canonical hash,
with who deployed it and the diff from the version that ran before; the customers a worker
syncs record the version it runs on; the API and `lifecycle config versions` list them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from activities.policy import Terms
from adapters.email.log_sender import LogEmailSender
from core.config import EngineConfig
from core.config_versions import read_canonical_config
from core.settings import REPO_ROOT
from db.models import ConfigVersion, Customer
from services.config_versions import config_versions, record_loaded_config
from tests.factories.apps import api_client
from tests.factories.databases import Database
from tests.factories.polling import eventually
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings, write_config
from tests.factories.workers import make_simulator
from tests.factories.workflows import start_customer
from workers.tuning import STRICT_RUNNER
from workers.worker import build_worker

SHIPPED = REPO_ROOT / "lifecycle.toml"


async def _count(database: Database) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ConfigVersion)) or 0)


async def test_each_content_is_stored_once_with_its_diff(
    own_database: Database, tmp_path: Path
) -> None:
    sessions = own_database.sessions
    first = await record_loaded_config(sessions, SHIPPED, deployed_by="ci#41")
    assert first == read_canonical_config(SHIPPED).hash

    # The same meaning in other words (a comment, blank lines): the same version.
    reworded = tmp_path / "reworded.toml"
    reworded.write_text("# deployed again\n\n" + SHIPPED.read_text())
    assert await record_loaded_config(sessions, reworded, deployed_by="ci#42") == first
    assert await _count(own_database) == 1

    longer = write_config(tmp_path, trial={"length": "21d"})
    second = await record_loaded_config(sessions, longer, deployed_by="alice")
    assert second != first
    listed = await config_versions(sessions)
    assert [(v.hash, v.current) for v in listed] == [(second, True), (first, False)]
    newest, oldest = listed
    assert (oldest.previous_hash, oldest.diff, oldest.deployed_by) == (None, None, "ci#41")
    assert (newest.previous_hash, newest.deployed_by) == (first, "alice")
    assert newest.diff is not None
    changed = [
        line
        for line in newest.diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ['-    "length": "14d",', '+    "length": "21d",']

    # A rollback is the first version again, now the current one; nothing new is stored.
    assert await record_loaded_config(sessions, SHIPPED, deployed_by="bob") == first
    assert await _count(own_database) == 2
    assert [v.hash for v in await config_versions(sessions) if v.current] == [first]


async def test_the_customers_a_worker_syncs_carry_its_config_version(
    time_skipping_env: WorkflowEnvironment,
    own_database: Database,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    sessions = own_database.sessions
    version = await record_loaded_config(sessions, SHIPPED, deployed_by=None)

    async def terms() -> Terms:
        return Terms(policy=engine_config.policy, catalog=engine_config.catalog)

    worker = build_worker(
        time_skipping_env.client,
        task_queue=task_queue,
        sessions=sessions,
        sender=LogEmailSender(),
        gateway=make_simulator(sessions, engine_config),
        product_name=engine_config.product_name,
        app_url=engine_config.app_url,
        load_terms=terms,
        workflow_runner=STRICT_RUNNER,
        config_version=version,
    )
    async with worker:
        started = await start_customer(time_skipping_env, sessions, engine_config, task_queue)

        async def row() -> Customer | None:
            async with sessions() as session:
                return await session.get(Customer, started.customer.id)

        synced = await eventually(row, lambda c: c is not None and c.config_version is not None)
    assert synced is not None and synced.config_version == version
    (listed,) = await config_versions(sessions)
    assert listed.customers == 1


@pytest.fixture
async def http(
    own_database: Database, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=own_database.url, task_queue=task_queue, lifecycle_deployed_by="deploy-7"
    )
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def test_the_api_records_its_config_and_lists_versions(
    http: httpx.AsyncClient, own_database: Database
) -> None:
    listed = await http.get("/v1/admin/config-versions", headers=auth(ADMIN_KEY))
    assert listed.status_code == 200, listed.text
    (version,) = listed.json()["data"]
    assert (version["hash"], version["deployed_by"], version["current"]) == (
        read_canonical_config(SHIPPED).hash,
        "deploy-7",
        True,
    )
    assert version["content"] is None
    one = await http.get(f"/v1/admin/config-versions/{version['hash']}", headers=auth(ADMIN_KEY))
    assert one.json()["content"] == read_canonical_config(SHIPPED).content
    missing = await http.get("/v1/admin/config-versions/nope", headers=auth(ADMIN_KEY))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    refused = await http.get("/v1/admin/config-versions", headers=auth(APP_KEY))
    assert refused.status_code == 403

    # The command line reads the same table.
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_CONFIG"}
    env["DATABASE_URL"] = own_database.url
    printed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lifecycle", "config", "versions", "--diff"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    row = printed.stdout.splitlines()[1].split()
    assert (row[0], row[-1]) == ("*" + version["hash"][:12], "deploy-7")
