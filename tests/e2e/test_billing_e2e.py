"""Paid plans end to end: API -> workflow -> simulator -> test clock -> events -> workflow,
on the Temporal dev server and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.histories import record_customer_history
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.settings import ADMIN_KEY, auth, make_settings
from tests.factories.workers import make_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def _post(http: httpx.AsyncClient, path: str, body: dict, key: str | None = None) -> dict:
    response = await http.post(path, json=body, headers=auth(key) if key else auth())
    assert response.status_code in (200, 201), response.text
    result: dict = response.json()
    return result


async def test_convert_upgrade_downgrade_renew_cancel(
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    worker = make_worker(
        dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    )
    async with worker, api_client(settings, dev_server_env.client) as http:
        customer = await _post(
            http,
            "/v1/customers",
            {"external_id": f"ext-{uuid.uuid4()}", "email": unique_email(), "name": "Ada"},
        )
        cid = customer["id"]
        base = f"/v1/customers/{cid}"

        converted = await _post(
            http,
            f"{base}/subscription",
            {"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"},
        )
        assert (converted["status"], converted["plan"]) == ("active", "starter")
        first_end = datetime.fromisoformat(converted["current_period_end"])

        preview = (
            await http.get(f"{base}/subscription/preview", params={"plan": "pro"}, headers=auth())
        ).json()
        upgraded = await _post(http, f"{base}/subscription", {"plan": "pro", "interval": "month"})
        assert upgraded["plan"] == "pro"
        invoices = (await http.get(f"{base}/invoices", headers=auth())).json()["data"]
        assert [i["billing_reason"] for i in invoices] == [
            "subscription_update",
            "subscription_create",
        ]
        # The preview said what the upgrade would charge (to the cent, give or take the
        # seconds between the two requests).
        assert abs(invoices[0]["amount_paid_cents"] - preview["amount_due_now_cents"]) <= 1

        scheduled = await _post(
            http, f"{base}/subscription", {"plan": "starter", "interval": "month"}
        )
        assert scheduled["plan"] == "pro"
        assert scheduled["scheduled_change"]["plan"] == "starter"

        # The test clock renews: the scheduled downgrade takes effect, the card is charged
        # the new price, and the engine learns it through the same events as webhooks.
        advanced = await _post(
            http,
            "/v1/admin/test-clock/advance",
            {"customer_id": cid, "to": "period_end"},
            key=ADMIN_KEY,
        )
        assert "invoice.paid" in advanced["events"]

        async def view() -> dict:
            return dict((await http.get(base, headers=auth())).json())

        renewed = await eventually(
            view,
            lambda v: (
                v["plan"] == "starter"
                and datetime.fromisoformat(v["current_period_end"]) > first_end
            ),
        )
        assert renewed["scheduled_change"] is None
        assert datetime.fromisoformat(renewed["current_period_end"]) - first_end > timedelta(
            days=27
        )
        invoices = (await http.get(f"{base}/invoices", headers=auth())).json()["data"]
        assert (invoices[0]["billing_reason"], invoices[0]["amount_paid_cents"]) == (
            "subscription_cycle",
            2900,
        )

        await _post(http, f"{base}/cancel", {"at_period_end": True})
        await _post(
            http,
            "/v1/admin/test-clock/advance",
            {"customer_id": cid, "to": "period_end"},
            key=ADMIN_KEY,
        )
        ended = await eventually(view, lambda v: v["status"] == "canceled")
        assert ended["cancel_at_period_end"] is False

        events = (
            await http.get(f"/v1/admin/customers/{cid}/events?audit=false", headers=auth(ADMIN_KEY))
        ).json()["data"]

    kinds = [(e["kind"], e["mrr_delta_cents"]) for e in events]
    assert kinds == [
        ("trial_started", 0),
        ("trial_converted", 2900),
        ("plan_changed", 7000),
        ("plan_change_scheduled", 0),
        ("plan_changed", -7000),
        ("subscription_renewed", 0),
        ("cancellation_scheduled", 0),
        ("subscription_canceled", -2900),
    ]
    assert sum(delta for _, delta in kinds) == 0
    templates = [e.template for e in await outbox(sessions, cid)]
    assert templates == [
        "welcome",
        "trial_converted",
        "plan_changed",
        "plan_changed",
        "subscription_canceled",
    ]
    await record_customer_history(
        dev_server_env.client, cid, "e2e_convert_upgrade_downgrade_renew_cancel"
    )
