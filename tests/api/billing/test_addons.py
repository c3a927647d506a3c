"""Buying add-ons through the API: charged through the simulator, limits rise at once, the
ledger carries the MRR."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.histories import record_customer_history
from tests.factories.settings import ADMIN_KEY, auth, make_settings
from tests.factories.workers import make_worker


@pytest.fixture
async def http(
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    worker = make_worker(
        dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    )
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    async with worker, api_client(settings, dev_server_env.client) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _paying_customer(http: httpx.AsyncClient, plan: str = "starter") -> str:
    created = ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        )
    )
    ok(
        await http.post(
            f"/v1/customers/{created['id']}/subscription",
            json={"plan": plan, "interval": "month", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
    )
    return str(created["id"])


async def _limit(http: httpx.AsyncClient, cid: str, metric: str) -> int | None:
    usage = ok(await http.get(f"/v1/customers/{cid}/usage", headers=auth()))
    rows = usage["metrics"] if isinstance(usage, dict) and "metrics" in usage else usage
    if isinstance(rows, dict):
        rows = list(rows.values())
    for row in rows:
        if row["metric"] == metric:
            limit: int | None = row["limit"]
            return limit
    raise AssertionError(f"no {metric} in {usage}")


async def _events(http: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(
        await http.get(f"/v1/admin/customers/{cid}/events?audit=false", headers=auth(ADMIN_KEY))
    )["data"]
    return rows


async def test_extra_chatbots_are_recurring_and_raise_the_limit_at_once(
    http: httpx.AsyncClient, dev_server_env: WorkflowEnvironment
) -> None:
    cid = await _paying_customer(http)
    assert await _limit(http, cid, "chatbots") == 3
    bought = ok(
        await http.post(
            f"/v1/customers/{cid}/addons",
            json={"addon": "extra_chatbot", "quantity": 2},
            headers=auth(),
        )
    )
    assert [(a["addon"], a["kind"], a["quantity"]) for a in bought["addons"]] == [
        ("extra_chatbot", "recurring", 2)
    ]
    assert await _limit(http, cid, "chatbots") == 5
    # Prorated now: a second invoice, less than two full months of $5.
    invoices = ok(await http.get(f"/v1/customers/{cid}/invoices", headers=auth()))["data"]
    assert len(invoices) == 2
    assert 0 < invoices[0]["amount_paid_cents"] <= 1000
    event = (await _events(http, cid))[-1]
    assert (event["kind"], event["mrr_delta_cents"]) == ("addon_purchased", 1000)
    assert event["data"]["addon"] == "extra_chatbot"
    view = ok(await http.get(f"/v1/customers/{cid}/billing", headers=auth()))
    assert view["mrr_cents"] == 2900 + 1000
    await record_customer_history(dev_server_env.client, cid, "addon_recurring")


async def test_a_message_pack_is_one_off_for_this_period(
    http: httpx.AsyncClient, dev_server_env: WorkflowEnvironment
) -> None:
    cid = await _paying_customer(http)
    assert await _limit(http, cid, "messages") == 5000
    ok(
        await http.post(
            f"/v1/customers/{cid}/addons",
            json={"addon": "message_pack", "quantity": 1},
            headers=auth(),
        )
    )
    assert await _limit(http, cid, "messages") == 15000
    invoices = ok(await http.get(f"/v1/customers/{cid}/invoices", headers=auth()))["data"]
    assert (invoices[0]["billing_reason"], invoices[0]["amount_paid_cents"]) == ("manual", 1000)
    event = (await _events(http, cid))[-1]
    # Overage, not recurring revenue.
    assert (event["kind"], event["mrr_delta_cents"], event["data"]["kind"]) == (
        "addon_purchased",
        0,
        "one_off",
    )
    await record_customer_history(dev_server_env.client, cid, "addon_message_pack")


async def test_feature_addon_turns_the_feature_on_once(
    http: httpx.AsyncClient, dev_server_env: WorkflowEnvironment
) -> None:
    cid = await _paying_customer(http)

    async def feature() -> bool:
        answer = ok(
            await http.post(
                f"/v1/customers/{cid}/entitlements/check",
                json={"feature": "branding_removal"},
                headers=auth(),
            )
        )
        return bool(answer["allowed"])

    assert await feature() is False
    ok(
        await http.post(
            f"/v1/customers/{cid}/addons", json={"addon": "branding_removal"}, headers=auth()
        )
    )
    assert await feature() is True
    again = await http.post(
        f"/v1/customers/{cid}/addons", json={"addon": "branding_removal"}, headers=auth()
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    await record_customer_history(dev_server_env.client, cid, "addon_feature")


async def test_addon_refusals(http: httpx.AsyncClient) -> None:
    trialing = ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        )
    )["id"]
    during_trial = await http.post(
        f"/v1/customers/{trialing}/addons", json={"addon": "extra_chatbot"}, headers=auth()
    )
    assert during_trial.status_code == 409
    unknown = await http.post(
        f"/v1/customers/{trialing}/addons", json={"addon": "jetpack"}, headers=auth()
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "addon"
    too_many = await http.post(
        f"/v1/customers/{trialing}/addons",
        json={"addon": "extra_chatbot", "quantity": 0},
        headers=auth(),
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "quantity"


async def test_a_declined_card_buys_nothing(http: httpx.AsyncClient) -> None:
    cid = await _paying_customer(http)
    ok(
        await http.put(
            f"/v1/customers/{cid}/payment-method",
            json={"payment_method": "pm_card_chargeCustomerFail"},
            headers=auth(),
        )
    )
    declined = await http.post(
        f"/v1/customers/{cid}/addons",
        json={"addon": "extra_chatbot", "quantity": 1},
        headers=auth(),
    )
    assert declined.status_code == 402
    assert declined.json()["decline_code"] == "generic_decline"
    assert await _limit(http, cid, "chatbots") == 3
    assert (await _events(http, cid))[-1]["kind"] != "addon_purchased"
