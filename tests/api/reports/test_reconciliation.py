"""The reconciliation report over HTTP and from the command line, on a database of its own
with one planted difference: nothing recorded yet is a 404 problem, an app key is refused,
a run lists the difference and is what GET answers afterwards; a bad grace names the field;
`lifecycle report reconciliation --check` exits 1 with the difference listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from core.settings import REPO_ROOT
from tests.factories.apps import api_client
from tests.factories.databases import Database
from tests.factories.reconciliation import GHOST_INVOICE, plant_engine_only_invoice
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings

PATH = "/v1/admin/reports/reconciliation"


@pytest.fixture
async def http(
    own_database: Database, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=own_database.url, task_queue=task_queue, stripe_api_key=None
    )
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def test_run_then_read_the_latest_report(
    http: httpx.AsyncClient, own_database: Database, engine_config: EngineConfig
) -> None:
    customer_id = await plant_engine_only_invoice(own_database.sessions, engine_config)
    missing = await http.get(PATH, headers=auth(ADMIN_KEY))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

    refused = await http.post(PATH, headers=auth(APP_KEY))
    assert refused.status_code == 403

    bad = await http.post(PATH, params={"grace_minutes": -1}, headers=auth(ADMIN_KEY))
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["grace_minutes"]

    ran = await http.post(PATH, headers=auth(ADMIN_KEY))
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert (body["trigger"], body["provider"], body["difference_count"]) == (
        "api",
        "simulator",
        1,
    )
    assert body["differences"] == [
        {
            "object": "invoice",
            "object_id": GHOST_INVOICE,
            "kind": "missing_at_provider",
            "customer_id": customer_id,
            "provider_customer_id": None,
            "field": None,
            "engine": None,
            "provider": None,
        }
    ]
    latest = await http.get(PATH, headers=auth(ADMIN_KEY))
    assert latest.status_code == 200
    assert latest.json() == body


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LIFECYCLE_CONFIG", "STRIPE_API_KEY")}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", "report", "reconciliation", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_lists_differences_and_checks(
    own_database: Database, engine_config: EngineConfig
) -> None:
    assert _cli(own_database.url, "--latest").returncode == 1, "nothing recorded yet"
    customer_id = await plant_engine_only_invoice(own_database.sessions, engine_config)

    checked = _cli(own_database.url, "--check", "--json")
    assert checked.returncode == 1, checked.stderr
    body = json.loads(checked.stdout)
    assert (body["trigger"], body["difference_count"]) == ("cli", 1)
    assert body["differences"][0]["customer_id"] == customer_id

    table = _cli(own_database.url, "--latest")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].endswith("1 invoice(s), 0 subscription(s) compared, 1 difference(s)")
    assert lines[-1].split() == [
        customer_id,
        "invoice",
        GHOST_INVOICE,
        "missing_at_provider",
        "None",
        "->",
        "None",
    ]
