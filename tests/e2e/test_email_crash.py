"""A worker killed between SendGrid's 202 and the commit that records it: after the restart
the customer gets the email once (the unconfirmed attempt's batch is cancelled first).

Before: the resend came with the activity's retry, and the records showed one send."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from temporalio.testing import WorkflowEnvironment

from core.settings import REPO_ROOT
from db.engine import SessionFactory
from db.models import EmailOutbox
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.processes import worker_process
from tests.factories.sendgrid import FakeSendGrid
from tests.factories.settings import auth, make_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid()
    fake.start()
    yield fake
    fake.stop()


async def _rows(sessions: SessionFactory, customer_id: str) -> list[EmailOutbox]:
    async with sessions() as session:
        return list(
            await session.scalars(select(EmailOutbox).where(EmailOutbox.customer_id == customer_id))
        )


async def test_a_worker_killed_after_sendgrid_accepted_sends_the_email_once(
    database_url: str,
    sessions: SessionFactory,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    sendgrid: FakeSendGrid,
) -> None:
    async with sessions.begin() as session:  # only this test's rows for the dispatchers
        await session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.status.in_(("pending", "sending", "accepted")))
            .values(status="skipped")
        )
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "SENDGRID_API_KEY": "SG.e2e",
        "SENDGRID_API_HOST": sendgrid.host,
        "LIFECYCLE_EMAIL_HOLD_SECONDS": "900",
        "LIFECYCLE_EMAIL_STALE_SECONDS": "2",
        "LIFECYCLE_CRASH_AFTER": "email_send",
        "LIFECYCLE_CRASH_MARKER": str(tmp_path / "crashed"),
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
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
            assert created.status_code == 201, created.text
            cid = created.json()["id"]
            # SendGrid accepted the welcome (held, in its batch); the worker died before
            # recording that.
            await eventually(
                lambda: asyncio.sleep(0, result=crashing.poll()),
                lambda code: code is not None,
                timeout=60,
            )
            assert (tmp_path / "crashed").exists(), log.read_text()
            [row] = await _rows(sessions, cid)
            assert row.status == "sending" and row.batch_id is not None
            assert len(sendgrid.accepted) == 1

            with worker_process({**env, "LIFECYCLE_CRASH_AFTER": "none"}, log):
                await eventually(
                    lambda: _rows(sessions, cid),
                    lambda rows: [r.status for r in rows] == ["sent"],
                    timeout=60,
                )
    finally:
        if crashing.poll() is None:
            crashing.kill()

    [row] = await _rows(sessions, cid)
    assert row.attempts == 2
    first, second = [r for r in sendgrid.accepted if r.body["custom_args"]["customer_id"] == cid]
    assert first.body["batch_id"] in sendgrid.canceled
    assert second.body["batch_id"] not in sendgrid.canceled
    delivered = [r for r in sendgrid.delivered() if r.body["custom_args"]["customer_id"] == cid]
    assert len(delivered) == 1
