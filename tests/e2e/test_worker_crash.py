"""A worker process killed mid-trial and restarted: no reminder lost, none duplicated."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from db.engine import SessionFactory
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.processes import worker_process
from tests.factories.records import outbox
from tests.factories.settings import auth, make_settings, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

TRIAL = {"length": "12s", "reminders": ["9s", "6s", "3s"], "winback": ["3s"]}
EXPECTED = [
    "welcome",
    "trial_reminder",
    "trial_reminder",
    "trial_reminder",
    "trial_expired",
    "trial_winback",
]


async def test_killed_worker_loses_and_duplicates_nothing(
    database_url: str,
    sessions: SessionFactory,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    config_path = write_config(tmp_path, trial=TRIAL)
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, config_path=config_path
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "LIFECYCLE_CONFIG": str(config_path),
    }
    log = tmp_path / "worker.log"

    async with api_client(settings, dev_server_env.client) as http:
        with worker_process(env, log) as first:
            created = await http.post(
                "/v1/customers",
                json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
                headers=auth(),
            )
            customer_id = created.json()["id"]
            # Kill the worker the moment the first reminder exists: possibly before it was
            # marked sent, possibly before the activity's completion reached Temporal.
            await eventually(
                lambda: outbox(sessions, customer_id),
                lambda rows: any(r.template == "trial_reminder" for r in rows),
                timeout=60,
                interval=0.02,
            )
            first.send_signal(signal.SIGKILL)
            first.wait()

        # While no worker runs, the next reminders come due; they must not be lost.
        rows = await outbox(sessions, customer_id)
        assert len(rows) < len(EXPECTED)

        with worker_process(env, log):
            rows = await eventually(
                lambda: outbox(sessions, customer_id),
                lambda r: len(r) >= len(EXPECTED) and all(x.status == "sent" for x in r),
                timeout=150,
            )

    assert [r.template for r in rows] == EXPECTED, log.read_text()[-3000:]
    keys = [r.idempotency_key for r in rows]
    assert len(set(keys)) == len(EXPECTED)
    # For the embedded provider the committed outbox row is the delivery: exactly one each.
    assert all(r.status == "sent" and r.attempts == 1 for r in rows), [
        (r.template, r.status, r.attempts) for r in rows
    ]
    # Both processes announce each delivery after its commit, so none is announced twice;
    # the kill may only swallow the announcement of the one email committed just before it.
    announced = [
        line.split(" key ", 1)[1].split()[0].removesuffix(":")
        for line in log.read_text().splitlines()
        if f"to customer {customer_id}" in line
    ]
    assert len(announced) == len(set(announced)), announced
    assert set(announced) <= set(keys)
    assert len(announced) >= len(keys) - 1, (announced, keys)
