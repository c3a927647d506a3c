"""Pricing experiments over HTTP with a real worker and the embedded simulator: a sign-up
draws a variant once (a repeat keeps it) and is exposed; a variant customer converts and
changes plan at the variant's prices, also after the experiment stops, until an admin
migrates it; stop and rollout decide new sign-ups; mistakes are problems."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig, load_config
from db.engine import SessionFactory
from db.models import ExperimentAssignment, ExperimentExposure
from domain.experiments.assignment import assign
from tests.api.billing.test_billing_api import (
    assert_problem,
    billing_of,
    fields,
    invoices_of,
    ok,
    subscribe,
)
from tests.factories.apps import api_client
from tests.factories.experiments import (
    HIGHER_PRO_CENTS,
    config_with,
    experiment_section,
    new_experiment_id,
)
from tests.factories.settings import ADMIN_KEY, auth, make_settings
from tests.factories.workers import make_worker

Json = dict[str, Any]
PRO_YEAR_LIST = 100980  # 12 x 99 less 15 %
PRO_YEAR_HIGHER = 121380  # 12 x 119 less 15 %


@pytest.fixture
def experiment_id() -> str:
    return new_experiment_id()


@pytest.fixture
def config_path(tmp_path: Path, experiment_id: str) -> Path:
    return config_with(tmp_path, experiment_section(experiment_id))


@pytest.fixture
def config(config_path: Path) -> EngineConfig:
    return load_config(config_path)


@pytest.fixture
async def http(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    config: EngineConfig,
    config_path: Path,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        config_path=config_path,
        stripe_api_key=None,
    )
    async with (
        make_worker(dev_server_env.client, task_queue=task_queue, sessions=sessions, config=config),
        api_client(settings, dev_server_env.client) as client,
    ):
        yield client


def external_id_in(config: EngineConfig, experiment_id: str, variant: str) -> str:
    """An app id the hash puts in ``variant``."""
    experiment = next(e for e in config.experiments if e.id == experiment_id)
    while True:
        candidate = f"ext-{uuid.uuid4()}"
        if assign(experiment, candidate) == variant:
            return candidate


async def sign_up(http: httpx.AsyncClient, external_id: str) -> Json:
    response = await http.post(
        "/v1/customers",
        json={"external_id": external_id, "email": f"{external_id}@example.com"},
        headers=auth(),
    )
    assert response.status_code in (200, 201), response.text
    body: Json = response.json()
    return body


async def assignments(sessions: SessionFactory, experiment_id: str) -> list[ExperimentAssignment]:
    async with sessions() as session:
        rows = await session.scalars(
            select(ExperimentAssignment).where(ExperimentAssignment.experiment_id == experiment_id)
        )
        return list(rows)


async def exposures(sessions: SessionFactory, experiment_id: str) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(ExperimentExposure).where(ExperimentExposure.experiment_id == experiment_id)
        )
        return sorted((r.subject_id, r.variant, r.source) for r in rows)


async def listed(http: httpx.AsyncClient, experiment_id: str) -> Json:
    response = await http.get("/v1/admin/experiments", headers=auth(ADMIN_KEY))
    assert response.status_code == 200, response.text
    found: Json = next(e for e in response.json() if e["id"] == experiment_id)
    return found


def pro(catalog: Json) -> Json:
    plan: Json = next(p for p in catalog["plans"] if p["id"] == "pro")
    return plan


async def test_a_variant_customer_signs_up_once_and_pays_the_variant_prices(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    config: EngineConfig,
    experiment_id: str,
) -> None:
    external_id = external_id_in(config, experiment_id, "higher")
    # The visitor sees the variant it will sign up into: an exposure.
    shown = ok(await http.get("/v1/plans", params={"visitor_id": external_id}, headers=auth()))
    assert pro(shown)["monthly_price_cents"] == HIGHER_PRO_CENTS
    assert pro(shown)["annual_price_cents"] == PRO_YEAR_HIGHER

    first = await sign_up(http, external_id)
    again = await sign_up(http, external_id)  # a retried sign-up
    customer_id = first["id"]
    assert again["id"] == customer_id
    [assigned] = await assignments(sessions, experiment_id)
    assert (assigned.subject_id, assigned.variant, assigned.customer_id) == (
        external_id,
        "higher",
        customer_id,
    )
    assert assigned.price_book == f"{experiment_id}.higher"
    assert {(v, s) for _, v, s in await exposures(sessions, experiment_id)} == {
        ("higher", "plans"),
        ("higher", "signup"),
    }
    mine = ok(await http.get("/v1/plans", params={"customer_id": customer_id}, headers=auth()))
    assert pro(mine)["monthly_price_cents"] == HIGHER_PRO_CENTS

    # Converts at the variant's price, through the simulator.
    view = ok(await subscribe(http, customer_id, "pro", "month"))
    assert view["status"] == "active"
    assert (await billing_of(http, customer_id))["mrr_cents"] == HIGHER_PRO_CENTS
    assert [i["amount_paid_cents"] for i in await invoices_of(http, customer_id)] == [
        HIGHER_PRO_CENTS
    ]
    assert (await billing_of(http, customer_id))["next_invoice"]["amount_cents"] == HIGHER_PRO_CENTS

    # The experiment stops: the customer is grandfathered; a plan change keeps its prices.
    admin = auth(ADMIN_KEY)
    stopped = ok(await http.post(f"/v1/admin/experiments/{experiment_id}/stop", headers=admin))
    assert stopped["state"] == "stopped"
    preview = ok(
        await http.get(
            f"/v1/customers/{customer_id}/subscription/preview",
            params={"plan": "pro", "interval": "year"},
            headers=auth(),
        )
    )
    assert preview["next_invoice_amount_cents"] == PRO_YEAR_HIGHER
    ok(await subscribe(http, customer_id, "pro", "year", payment_method=None))
    assert (await billing_of(http, customer_id))["mrr_cents"] == round(PRO_YEAR_HIGHER / 12)

    # An admin migrates it to today's terms: the change goes at list prices.
    migrated = ok(
        await http.post(
            f"/v1/admin/experiments/{experiment_id}/customers/{customer_id}/migrate",
            json={"plan": "pro", "interval": "month", "when": "now"},
            headers=admin,
        )
    )
    assert migrated == {
        "experiment": experiment_id,
        "customer_id": customer_id,
        "variant": "higher",
        "outcome": "changed",
    }
    assert (await billing_of(http, customer_id))["mrr_cents"] == 9900
    mine = ok(await http.get("/v1/plans", params={"customer_id": customer_id}, headers=auth()))
    assert pro(mine)["monthly_price_cents"] == 9900
    again_problem = assert_problem(
        await http.post(
            f"/v1/admin/experiments/{experiment_id}/customers/{customer_id}/migrate",
            json={"plan": "pro", "interval": "year"},
            headers=admin,
        ),
        409,
    )
    assert "migrated" in again_problem["detail"]


async def test_stop_and_rollout_decide_new_sign_ups(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    config: EngineConfig,
    experiment_id: str,
) -> None:
    admin = auth(ADMIN_KEY)
    control_id = external_id_in(config, experiment_id, "control")
    await sign_up(http, control_id)
    mine = await listed(http, experiment_id)
    assert (mine["state"], mine["signups"], mine["visitors"]) == ("running", 1, 1)
    assert [v["price_book"] for v in mine["variants"]] == [None, f"{experiment_id}.higher"]

    results = ok(await http.get(f"/v1/admin/experiments/{experiment_id}", headers=admin))
    control, higher = results["variants"]
    assert (control["variant"], control["signups"], higher["signups"]) == ("control", 1, 0)
    assert control["trial_conversion"]["vs_control"] is None
    assert set(control["churn_30d"]["estimate"]) == {"value", "ci_low", "ci_high", "n"}

    ok(await http.post(f"/v1/admin/experiments/{experiment_id}/stop", headers=admin))
    assert_problem(
        await http.post(f"/v1/admin/experiments/{experiment_id}/stop", headers=admin), 409
    )
    # Stopped: a visitor the hash puts in "higher" signs up at the config's terms.
    late = external_id_in(config, experiment_id, "higher")
    late_id = (await sign_up(http, late))["id"]
    assert len(await assignments(sessions, experiment_id)) == 1
    shown = ok(await http.get("/v1/plans", params={"customer_id": late_id}, headers=auth()))
    assert pro(shown)["monthly_price_cents"] == 9900

    rolled = ok(
        await http.post(
            f"/v1/admin/experiments/{experiment_id}/rollout",
            json={"variant": "higher"},
            headers=admin,
        )
    )
    assert (rolled["state"], rolled["winner"]) == ("rolled_out", "higher")
    # Every new sign-up gets the winner, pinned, and is left out of the results.
    winner_id = (await sign_up(http, external_id_in(config, experiment_id, "control")))["id"]
    shown = ok(await http.get("/v1/plans", params={"customer_id": winner_id}, headers=auth()))
    assert pro(shown)["monthly_price_cents"] == HIGHER_PRO_CENTS
    visitor = ok(await http.get("/v1/plans", params={"visitor_id": "anyone"}, headers=auth()))
    assert pro(visitor)["monthly_price_cents"] == HIGHER_PRO_CENTS
    mine = await listed(http, experiment_id)
    assert (mine["signups"], mine["rollout_signups"]) == (1, 1)
    # The customers who signed up before keep their terms.
    shown = ok(await http.get("/v1/plans", params={"customer_id": late_id}, headers=auth()))
    assert pro(shown)["monthly_price_cents"] == 9900


async def test_mistakes_are_problems(http: httpx.AsyncClient, experiment_id: str) -> None:
    admin = auth(ADMIN_KEY)
    assert_problem(await http.get("/v1/admin/experiments/nope", headers=admin), 404, "not-found")
    assert_problem(await http.post("/v1/admin/experiments/nope/stop", headers=admin), 404)
    problem = assert_problem(
        await http.post(
            f"/v1/admin/experiments/{experiment_id}/rollout",
            json={"variant": "cheapest"},
            headers=admin,
        ),
        422,
        "validation-error",
    )
    assert fields(problem) == ["variant"]
    problem = assert_problem(
        await http.post(f"/v1/admin/experiments/{experiment_id}/rollout", json={}, headers=admin),
        422,
    )
    assert fields(problem) == ["variant"]
    assert_problem(await http.get("/v1/admin/experiments", headers=auth()), 403)
    customer = await sign_up(http, f"ext-{uuid.uuid4()}")
    problem = assert_problem(
        await http.post(
            f"/v1/admin/experiments/{experiment_id}/customers/{customer['id']}/migrate",
            json={"plan": "pro", "interval": "month"},
            headers=admin,
        ),
        422,
    )
    assert fields(problem) == ["plan"]
    assert_problem(
        await http.post(
            f"/v1/admin/experiments/{experiment_id}/customers/unknown/migrate",
            json={},
            headers=admin,
        ),
        404,
    )
    problem = assert_problem(
        await http.get("/v1/plans", params={"visitor_id": "a", "customer_id": "b"}, headers=auth()),
        422,
    )
    assert fields(problem) == ["customer_id"]
    assert_problem(
        await http.get("/v1/plans", params={"customer_id": "nobody"}, headers=auth()), 404
    )


async def test_a_draft_starts_once_and_alone(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    tmp_path: Path,
    task_queue: str,
) -> None:
    draft_id = new_experiment_id()
    path = config_with(tmp_path, experiment_section(draft_id, status="draft"))
    config = load_config(path)
    # A draft's prices are sold before it starts (sync-catalog creates them).
    assert f"{draft_id}.higher" in config.catalog.price_books
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, config_path=path, stripe_api_key=None
    )
    admin = auth(ADMIN_KEY)
    async with (
        make_worker(dev_server_env.client, task_queue=task_queue, sessions=sessions, config=config),
        api_client(settings, dev_server_env.client) as http,
    ):
        # A draft assigns no one.
        await sign_up(http, external_id_in(config, draft_id, "higher"))
        assert await assignments(sessions, draft_id) == []
        started = ok(await http.post(f"/v1/admin/experiments/{draft_id}/start", headers=admin))
        assert started["state"] == "running"
        assert started["changed_by"].startswith("admin:")
        customer = await sign_up(http, external_id_in(config, draft_id, "higher"))
        [assigned] = await assignments(sessions, draft_id)
        assert (assigned.customer_id, assigned.variant) == (customer["id"], "higher")
        shown = ok(
            await http.get("/v1/plans", params={"customer_id": customer["id"]}, headers=auth())
        )
        assert pro(shown)["monthly_price_cents"] == HIGHER_PRO_CENTS
        # Started already; and the shipped draft may not start while this one runs.
        again = await http.post(f"/v1/admin/experiments/{draft_id}/start", headers=admin)
        assert_problem(again, 409)
        assert "draft" in again.json()["detail"]
        other = await http.post("/v1/admin/experiments/pro_119/start", headers=admin)
        assert_problem(other, 409)
        assert draft_id in other.json()["detail"]
        assert_problem(await http.post("/v1/admin/experiments/nope/start", headers=admin), 404)
        ok(await http.post(f"/v1/admin/experiments/{draft_id}/stop", headers=admin))
