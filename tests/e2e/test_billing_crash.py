"""A worker killed between the provider call and the database write: after the restart,
one subscription and one charge."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator.models import SimCharge, SimInvoice, SimSubscription
from core.settings import REPO_ROOT
from db.engine import SessionFactory
from db.models import Customer
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.processes import worker_process
from tests.factories.settings import auth, make_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def _count(sessions: SessionFactory, column: Any, provider_customer: str) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(select(func.count()).where(column == provider_customer)) or 0
        )


async def test_crash_after_the_charge_charges_once(
    database_url: str,
    sessions: SessionFactory,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "LIFECYCLE_CRASH_AFTER": "create_subscription",
        "LIFECYCLE_CRASH_MARKER": str(tmp_path / "crashed"),
    }
    log = tmp_path / "worker.log"
    crashing = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.crashing_worker"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        async with api_client(settings, dev_server_env.client) as http:
            created = await http.post(
                "/v1/customers",
                json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
                headers=auth(),
            )
            cid = created.json()["id"]
            convert = asyncio.create_task(
                http.post(
                    f"/v1/customers/{cid}/subscription",
                    json={"plan": "pro", "interval": "month", "payment_method": "pm_card_visa"},
                    headers=auth(),
                    timeout=180,
                )
            )
            # The provider charged the card, then the worker died before recording it.
            await eventually(
                lambda: asyncio.sleep(0, result=crashing.poll()),
                lambda code: code is not None,
                timeout=60,
            )
            assert (tmp_path / "crashed").exists(), log.read_text()
            assert not convert.done()

            with worker_process({**env, "LIFECYCLE_CRASH_AFTER": "none"}, log):
                response = await convert
            assert response.status_code == 200, response.text
            view = response.json()
            assert (view["status"], view["plan"]) == ("active", "pro")
    finally:
        if crashing.poll() is None:
            crashing.kill()

    async with sessions() as session:
        customer = await session.get(Customer, cid)
        assert customer is not None and customer.provider_customer_id is not None
        provider_customer = customer.provider_customer_id
    assert await _count(sessions, SimSubscription.customer_id, provider_customer) == 1
    assert await _count(sessions, SimCharge.customer_id, provider_customer) == 1
    assert await _count(sessions, SimInvoice.customer_id, provider_customer) == 1
