"""Exchange rates and the report across currencies over HTTP (issue 15 part 5): rates
stored by the admin API (validated, naming the field), an MRR report in USD from EUR and
JPY customers with the rate and date beside each figure, the per-currency breakdown, and
`lifecycle fx load` with the shipped offline table and a broken file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from core.settings import REPO_ROOT, Settings
from db.engine import SessionFactory
from db.models import FxRate
from tests.factories.apps import api_with_worker
from tests.factories.customers import unique_email
from tests.factories.databases import Database
from tests.factories.settings import ADMIN_KEY, auth, make_settings

Json = dict[str, Any]


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    return make_settings(database_url=database_url, task_queue=task_queue, stripe_api_key=None)


@pytest.fixture
async def http(
    dev_server_env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    engine_config: EngineConfig,
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_with_worker(
        settings, dev_server_env.client, sessions=sessions, config=engine_config
    ) as client:
        yield client


async def paying(http: httpx.AsyncClient, currency: str, plan: str) -> str:
    created = await http.post(
        "/v1/customers",
        json={
            "external_id": f"ext-{uuid.uuid4()}",
            "email": unique_email("fx"),
            "currency": currency,
        },
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    customer_id = str(created.json()["id"])
    converted = await http.post(
        f"/v1/customers/{customer_id}/subscription",
        json={"plan": plan, "interval": "month", "payment_method": "pm_card_visa"},
        headers=auth(),
    )
    assert converted.status_code == 200, converted.text
    return customer_id


async def native_mrr(http: httpx.AsyncClient, end: str) -> dict[str, int]:
    response = await http.get(
        "/v1/admin/reports/currencies",
        params={"to": end, "by": "currency"},
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 200, response.text
    return {c["currency"]: c["mrr_cents"] for c in response.json()["by_currency"]}


async def test_mrr_report_in_usd_from_eur_and_jpy_customers_with_rates_shown(
    http: httpx.AsyncClient,
) -> None:
    """The database is shared with other tests: the figures are checked against what this
    test adds and against the rates shown."""
    end = str((datetime.now(UTC) + timedelta(days=1)).date())
    before = await native_mrr(http, end)
    await paying(http, "eur", "pro")  # 92.00 EUR a month
    await paying(http, "jpy", "starter")  # 4,400 yen a month
    today = datetime.now(UTC).date()
    stored = await http.put(
        "/v1/admin/fx-rates",
        json={
            "rates": [
                {"date": str(today - timedelta(days=3)), "currency": "usd", "rate": "1.25"},
                {"date": str(today - timedelta(days=3)), "currency": "jpy", "rate": "160"},
            ]
        },
        headers=auth(ADMIN_KEY),
    )
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"stored": 2}

    response = await http.get(
        "/v1/admin/reports/currencies",
        params={"to": end, "by": "currency"},
        headers=auth(ADMIN_KEY),
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["reporting_currency"] == "usd"
    by = {c["currency"]: c for c in report["mrr"]["conversions"]}
    assert by["eur"]["amount_cents"] - before.get("eur", 0) == 9200
    assert by["jpy"]["amount_cents"] - before.get("jpy", 0) == 4400
    # EUR cents x 1.25; yen x 1.25 / 160 x 100 (zero-decimal to cents), half up: 4,400
    # yen alone are 34.375 -> 34.38 dollars.
    assert by["eur"]["converted_cents"] == (by["eur"]["amount_cents"] * 125 + 50) // 100
    assert by["jpy"]["converted_cents"] == (by["jpy"]["amount_cents"] * 78125 + 50000) // 100000
    assert by["eur"]["rate"] == "1.25"
    assert by["jpy"]["rate"] == "0.0078125"
    assert by["eur"]["rate_date"] == by["jpy"]["rate_date"] == str(today - timedelta(days=3))
    assert by["eur"]["source"] == "admin"
    assert report["mrr"]["cents"] == sum(c["converted_cents"] for c in by.values())
    assert report["paying_customers"] >= 2
    breakdown = {c["currency"]: c for c in report["by_currency"]}
    assert breakdown["jpy"]["mrr_cents"] == by["jpy"]["amount_cents"]
    assert breakdown["eur"]["mrr_converted"] == by["eur"]
    # The main report converts at constant rates (the rate of `to`, one per currency):
    # every customer's movements at the same rate, each rounded half up once.
    metrics = await http.get("/v1/admin/metrics", params={"to": end}, headers=auth(ADMIN_KEY))
    assert metrics.status_code == 200, metrics.text
    main = metrics.json()
    assert main["currency"] == "usd"
    rates = {r["currency"]: r for r in main["exchange_rates"]}
    assert (rates["eur"]["rate"], rates["jpy"]["rate"]) == ("1.25", "0.0078125")
    assert rates["jpy"]["rate_date"] == str(today - timedelta(days=3))
    assert "usd" not in rates
    # The same money as the dated report's MRR, up to the half cent each row rounds off.
    assert abs(main["mrr_cents"] - report["mrr"]["cents"]) <= report["paying_customers"] * 2
    # Without `by`, no breakdown.
    plain = await http.get(
        "/v1/admin/reports/currencies", params={"to": str(end)}, headers=auth(ADMIN_KEY)
    )
    assert plain.json()["by_currency"] is None


async def test_rates_are_validated_naming_the_field(http: httpx.AsyncClient) -> None:
    url = "/v1/admin/fx-rates"
    good = {"date": "2026-01-02", "currency": "usd", "rate": "1.1"}
    assert (await http.put(url, json={"rates": [good]}, headers=auth())).status_code == 403
    for bad, field in [
        ({**good, "currency": "xyz"}, "currency"),
        ({**good, "rate": "0"}, "rate"),
        ({**good, "date": "2026-02-30"}, "date"),
        ({**good, "base": "eu"}, "base"),
    ]:
        response = await http.put(url, json={"rates": [bad]}, headers=auth(ADMIN_KEY))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(f.endswith(field) for f in fields), fields
    # A correction replaces the day's rate.
    for rate in ("1.1", "1.2"):
        response = await http.put(
            url, json={"rates": [{**good, "rate": rate}]}, headers=auth(ADMIN_KEY)
        )
        assert response.status_code == 200
    listed = (await http.get(url, params={"currency": "usd"}, headers=auth(ADMIN_KEY))).json()
    assert [r["rate"] for r in listed if r["date"] == "2026-01-02"] == ["1.2"]


async def _fx_cli(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database.url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lifecycle", "fx", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_fx_load_from_the_command_line(own_database: Database, tmp_path: Path) -> None:
    shipped = await _fx_cli(own_database, "load")
    assert shipped.returncode == 0, shipped.stderr
    assert "fx_rates.csv" in shipped.stdout
    async with own_database.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(FxRate))
    assert count and count >= 25

    broken = tmp_path / "rates.csv"
    broken.write_text("date,currency,rate\n2026-01-02,usd,1.1\n2026-01-03,usd,-1\n")
    failed = await _fx_cli(own_database, "load", str(broken))
    assert failed.returncode != 0
    assert "line 3, rate" in failed.stderr
