"""Sign-up idempotency, the customer view and the catalog."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.factories.customers import unique_email
from tests.factories.responses import assert_problem, fields
from tests.factories.settings import auth
from workflows.messages import workflow_id_for

VIEW_FIELDS = {
    "id",
    "external_id",
    "email",
    "name",
    "locale",
    "currency",
    "country",
    "region",
    "region_override",
    "status",
    "plan",
    "interval",
    "trial_ends_at",
    "current_period_end",
    "cancel_at_period_end",
    "scheduled_change",
    "created_at",
}


async def test_sign_up_starts_a_trial_workflow(
    client: httpx.AsyncClient, dev_server_env: WorkflowEnvironment
) -> None:
    external_id = f"ext-{uuid.uuid4()}"
    response = await client.post(
        "/v1/customers",
        json={"external_id": external_id, "email": unique_email(), "name": "Grace"},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    view = response.json()
    assert set(view) == VIEW_FIELDS
    assert view["status"] == "trialing"
    assert view["plan"] == "starter"
    assert view["interval"] is None
    assert view["cancel_at_period_end"] is False
    trial = datetime.fromisoformat(view["trial_ends_at"]) - datetime.fromisoformat(
        view["created_at"]
    )
    assert trial == timedelta(days=14)

    description = await dev_server_env.client.get_workflow_handle(
        workflow_id_for(view["id"])
    ).describe()
    assert description.status is not None


async def test_repeating_sign_up_returns_the_same_customer(client: httpx.AsyncClient) -> None:
    payload = {"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()}
    first = await client.post("/v1/customers", json=payload, headers=auth())
    again = await client.post(
        "/v1/customers",
        json={**payload, "email": payload["email"].upper()},
        headers=auth(),
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


async def test_same_external_id_with_another_email_is_409(client: httpx.AsyncClient) -> None:
    external_id = f"ext-{uuid.uuid4()}"
    first = await client.post(
        "/v1/customers", json={"external_id": external_id, "email": unique_email()}, headers=auth()
    )
    assert first.status_code == 201
    response = await client.post(
        "/v1/customers", json={"external_id": external_id, "email": unique_email()}, headers=auth()
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "external_id"


async def test_customer_view_by_id_and_by_external_id(client: httpx.AsyncClient) -> None:
    email = unique_email()
    created = await client.post(
        "/v1/customers", json={"external_id": f"ext-{uuid.uuid4()}", "email": email}, headers=auth()
    )
    view = created.json()
    by_id = await client.get(f"/v1/customers/{view['id']}", headers=auth())
    by_external = await client.get(
        "/v1/customers", params={"external_id": view["external_id"]}, headers=auth()
    )
    assert by_id.json() == view
    assert by_external.json() == view
    assert view["email"] == email


async def test_plans_show_monthly_annual_and_saving(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/plans", headers=auth())
    assert response.status_code == 200
    catalog = response.json()
    plans = {p["id"]: p for p in catalog["plans"]}
    assert catalog["annual_discount_percent"] == 15
    assert plans["starter"]["monthly_price_cents"] == 2900
    assert plans["starter"]["annual_price_cents"] == 29580  # 12 x 29 less 15%
    assert plans["starter"]["annual_saving_cents"] == 5220
    assert plans["pro"]["annual_price_cents"] == 100980
    assert plans["pro"]["annual_saving_cents"] == 17820
    assert plans["pro"]["limits"]["messages"] == 50000
    assert plans["enterprise"]["monthly_price_cents"] is None
    assert plans["enterprise"]["self_serve"] is False
    addons = {a["id"]: a for a in catalog["addons"]}
    assert addons["extra_chatbot"]["price_cents"] == 500


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "temporal": "ok"}


async def test_locale_set_at_sign_up_and_changed(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email(), "locale": "de"},
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    assert created.json()["locale"] == "de"
    assert (await client.get(f"/v1/customers/{customer_id}", headers=auth())).json()[
        "locale"
    ] == "de"

    changed = await client.put(
        f"/v1/customers/{customer_id}/locale", json={"locale": "pt_br"}, headers=auth()
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["locale"] == "pt-BR"
    view = (await client.get(f"/v1/customers/{customer_id}", headers=auth())).json()
    assert view["locale"] == "pt-BR"

    english = await client.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
        headers=auth(),
    )
    assert english.json()["locale"] is None


async def test_unsupported_or_malformed_locales_are_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
        headers=auth(),
    )
    customer_id = created.json()["id"]
    for bad in ["xx-YY", "", 42, "zh", None]:
        sign_up = await client.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email(), "locale": bad},
            headers=auth(),
        )
        change = await client.put(
            f"/v1/customers/{customer_id}/locale", json={"locale": bad}, headers=auth()
        )
        responses = [change] if bad is None else [sign_up, change]
        for response in responses:
            problem = assert_problem(response, 422, "validation-error")
            assert fields(problem) == ["locale"], (bad, problem)
    view = (await client.get(f"/v1/customers/{customer_id}", headers=auth())).json()
    assert view["locale"] is None
    missing = await client.put(
        f"/v1/customers/{uuid.uuid4()}/locale", json={"locale": "de"}, headers=auth()
    )
    assert_problem(missing, 404)
