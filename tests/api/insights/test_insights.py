"""The churn run end to end on a database of its own: generated histories in, a model and
scores stored (once per run time), read by the insights endpoint, the model endpoint and
the admin customer search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from temporalio.client import Client

from activities.analytics import train_and_score
from core.config import load_config
from core.temporal import DATA_CONVERTER
from db.models import ChurnModelRow, ChurnScore, Customer
from domain.catalog import Catalog
from tests.factories.apps import api_client
from tests.factories.churn import START, generated_histories, write_histories
from tests.factories.databases import Database
from tests.factories.responses import ok
from tests.factories.settings import ADMIN_KEY, auth, make_settings

NOW = START + timedelta(weeks=40)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_config(Path(__file__).parents[3] / "lifecycle.toml").catalog


@pytest.fixture
async def admin(own_database: Database, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=own_database.url, task_queue=task_queue)
    temporal = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
    async with api_client(settings, temporal) as client:
        yield client


async def test_a_run_stores_its_model_once_and_scores_every_paying_customer(
    own_database: Database, admin: httpx.AsyncClient, catalog: Catalog
) -> None:
    sessions = own_database.sessions
    # Forty weeks ending now: the insights read the customer's last twelve weeks.
    now = datetime.now(UTC)
    histories = generated_histories(customers=300, weeks=40, start=now - timedelta(weeks=40))
    await write_histories(sessions, histories, now=now)
    first = await train_and_score(sessions, catalog, now)
    assert first.method == "logistic_regression"
    assert first.metrics["roc_auc"] > first.metrics["baseline"]["roc_auc"]
    # A retried run (same run time) stores the same model once and the same scores.
    again = await train_and_score(sessions, catalog, now)
    assert again.version == first.version and again.risks == first.risks
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChurnModelRow)) == 1
        paying = await session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.status.in_(["active", "past_due"]))
        )
        scores = list(await session.scalars(select(ChurnScore)))
    assert len(scores) == paying == first.scored
    assert {s.risk for s in scores} <= {"low", "medium", "high"}

    model = ok(await admin.get("/v1/admin/analytics/churn-model", headers=auth(ADMIN_KEY)))
    assert model["version"] == first.version
    assert model["metrics"]["roc_auc"] == first.metrics["roc_auc"]
    assert sum(model["risks"].values()) == first.scored

    riskiest = max(scores, key=lambda s: s.probability)
    insight = ok(
        await admin.get(
            f"/v1/admin/customers/{riskiest.customer_id}/insights", headers=auth(ADMIN_KEY)
        )
    )
    churn = insight["churn"]
    assert churn["probability"] == round(riskiest.probability, 4)
    assert churn["method"] == "logistic_regression" and churn["model_version"] == first.version
    assert churn["reasons"][0]["feature"] == "failed_payments_90d"
    assert churn["reasons"][0]["description"]

    # Its usage: the last twelve weeks and its group. The generated usage falls on Mondays
    # only: twelve active days are too few to read a weekly rhythm from.
    usage = insight["usage"]
    assert len(usage["weekly_messages"]) == 12 and sum(usage["weekly_messages"]) > 0
    assert usage["weekday_shares"]["Mon"] == 1.0 and usage["rhythm"] == "unknown"
    groups = ok(await admin.get("/v1/admin/analytics/usage-groups", headers=auth(ADMIN_KEY)))
    assert len(groups["groups"]) == first.groups >= 2
    assert groups["silhouette"] is not None and -1 <= groups["silhouette"] <= 1
    assert usage["group"]["group"] in {g["group"] for g in groups["groups"]}
    assert all(g["description"] for g in groups["groups"])

    band = riskiest.risk
    found = ok(
        await admin.get(
            "/v1/admin/customers",
            params={"churn_risk": band, "limit": 500},
            headers=auth(ADMIN_KEY),
        )
    )
    expected = {s.customer_id for s in scores if s.risk == band}
    assert {c["id"] for c in found["data"]} == expected


async def test_insights_show_the_facts_the_model_leaves_out_and_refuse_others(
    own_database: Database, admin: httpx.AsyncClient, catalog: Catalog
) -> None:
    sessions = own_database.sessions
    [history] = generated_histories(customers=1, weeks=10)
    await write_histories(sessions, [history], now=NOW)
    cid = history.customer_id
    outcome = await train_and_score(sessions, catalog, START + timedelta(weeks=10))
    assert outcome.method == "rules" and "Too little history" in outcome.note
    soon = START + timedelta(weeks=52)
    async with sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(
                status="active",
                cancel_at_period_end=True,
                payment_method_exp_month=soon.month,
                payment_method_exp_year=soon.year - 1,
            )
        )
    insight = ok(await admin.get(f"/v1/admin/customers/{cid}/insights", headers=auth(ADMIN_KEY)))
    assert "cancellation scheduled at the end of the period" in insight["facts"]
    assert any("card on file" in fact for fact in insight["facts"])
    if insight["churn"] is not None:
        assert insight["churn"]["method"] == "rules" and insight["churn"]["model_note"]
    missing = await admin.get("/v1/admin/customers/nobody/insights", headers=auth(ADMIN_KEY))
    assert missing.status_code == 404
    app_key = await admin.get(f"/v1/admin/customers/{cid}/insights", headers=auth())
    assert app_key.status_code == 403
    bad = await admin.get(
        "/v1/admin/customers", params={"churn_risk": "extreme"}, headers=auth(ADMIN_KEY)
    )
    assert bad.status_code == 422 and "churn_risk" in bad.text
