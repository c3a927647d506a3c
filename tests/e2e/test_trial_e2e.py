"""End to end on the Temporal dev server: API sign-up -> worker -> emails, seconds policy."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import load_config
from db.engine import create_engine, session_factory
from db.migrate import migrate
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.settings import ADMIN_KEY, auth, make_settings, write_config
from tests.factories.workers import make_worker
from workflows import search_attributes as sa
from workflows.messages import workflow_id_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SECONDS_TRIAL = {"length": "6s", "reminders": ["4s", "2s"], "winback": ["2s", "4s"]}
EXPECTED = [
    ("welcome", 0),
    ("trial_reminder", 2),
    ("trial_reminder", 4),
    ("trial_expired", 6),
    ("trial_winback", 8),
    ("trial_winback", 10),
]


@pytest.fixture(params=["postgresql", "sqlite"])
async def app_database_url(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> str:
    if request.param == "postgresql":
        return database_url
    url = f"sqlite+aiosqlite:///{tmp_path}/lifecycle.db"
    await migrate(url)
    return url


async def test_trial_from_sign_up_to_win_back(
    app_database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    config_path = write_config(tmp_path, trial=SECONDS_TRIAL)
    settings = make_settings(
        database_url=app_database_url, task_queue=task_queue, config_path=config_path
    )
    engine = create_engine(app_database_url)
    worker = make_worker(
        dev_server_env.client,
        task_queue=task_queue,
        sessions=session_factory(engine),
        config=load_config(config_path),
    )
    email = unique_email()
    try:
        async with worker, api_client(settings, dev_server_env.client) as http:
            created = await http.post(
                "/v1/customers",
                json={"external_id": f"ext-{uuid.uuid4()}", "email": email, "name": "Lin"},
                headers=auth(),
            )
            assert created.status_code == 201, created.text
            customer = created.json()

            async def emails() -> list[dict]:
                response = await http.get(
                    f"/v1/admin/customers/{customer['id']}/emails", headers=auth(ADMIN_KEY)
                )
                return list(response.json()["data"])

            # The row is written, then committed as sent (the embedded outbox's delivery):
            # wait for both, not for the row alone.
            sent = await eventually(
                emails,
                lambda rows: (
                    len(rows) >= len(EXPECTED) and all(r["status"] == "sent" for r in rows)
                ),
                timeout=60,
            )
            view = (await http.get(f"/v1/customers/{customer['id']}", headers=auth())).json()
            events = (
                await http.get(
                    f"/v1/admin/customers/{customer['id']}/events?audit=false",
                    headers=auth(ADMIN_KEY),
                )
            ).json()["data"]
            await _assert_visible_as_expired(dev_server_env, customer["id"])
    finally:
        await engine.dispose()

    assert [row["template"] for row in sent] == [template for template, _ in EXPECTED]
    signed_up = datetime.fromisoformat(customer["created_at"])
    for row, (template, offset) in zip(sent, EXPECTED, strict=True):
        assert row["to"] == email
        assert row["status"] == "sent"
        late = datetime.fromisoformat(row["created_at"]) - signed_up - timedelta(seconds=offset)
        assert timedelta(seconds=-1) < late < timedelta(seconds=5), (template, late)
    assert [r["data"].get("days_left") for r in sent[1:3]] == [1, 1]
    assert view["status"] == "trial_expired"
    assert [(e["kind"], e["to_status"]) for e in events] == [
        ("trial_started", "trialing"),
        ("trial_expired", "trial_expired"),
    ]


async def _assert_visible_as_expired(env: WorkflowEnvironment, customer_id: str) -> None:
    handle = env.client.get_workflow_handle(workflow_id_for(customer_id))
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.CUSTOMER_ID) == customer_id
    assert attributes.get(sa.LIFECYCLE_STATUS) == "trial_expired"
    assert attributes.get(sa.PLAN_ID) == "starter"
    assert attributes.get(sa.TRIAL_ENDS_AT) is not None

    async def found() -> list[str]:
        query = f'LifecycleStatus = "trial_expired" AND CustomerId = "{customer_id}"'
        return [wf.id async for wf in env.client.list_workflows(query)]

    assert await eventually(found, lambda ids: ids == [workflow_id_for(customer_id)])
