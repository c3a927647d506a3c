"""``GET /v1/admin/reports/forecast`` over a planted history (tests/factories/forecast.py)
written into a real PostgreSQL database: the body is the pure engine's forecast of the same
rows (``domain.growth.forecast``, checked against the planted trend in
tests/domain/growth/), too little history is said plainly, and bad input is a problem
naming the field.

A database of its own: the forecast reads every customer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.reports.forecast import forecast_view
from domain.growth.forecast import forecast_revenue
from domain.months import add_months
from tests.factories.apps import api_client
from tests.factories.databases import create_database, drop_database
from tests.factories.forecast import Planted, planted_growth, write_planted
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings

PATH = "/v1/admin/reports/forecast"
# Fourteen months of 20 trials a month: a forecast, and a backtest from six months.
PLANTED = planted_growth(months=14, trials=20, annual=0.2)


@pytest.fixture(scope="module")
async def seeded(pg_admin_url: str) -> AsyncIterator[str]:
    url = await create_database(pg_admin_url, prefix="lc_forecast")
    try:
        await write_planted(url, PLANTED)
        yield url
    finally:
        await drop_database(pg_admin_url, url)


@pytest.fixture
async def http(
    seeded: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=seeded, task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def _forecast(http: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await http.get(PATH, params=params, headers=auth(ADMIN_KEY))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _engine(planted: Planted, **kwargs: Any) -> dict[str, Any]:
    result = forecast_revenue(planted.rows, planted.invoices, **kwargs)
    return forecast_view(result, currency="usd").model_dump(mode="json")


async def test_the_forecast_is_the_engines_of_the_ledger(http: httpx.AsyncClient) -> None:
    end = PLANTED.end
    body = await _forecast(http, months="6", as_of=end.isoformat())
    assert body == _engine(PLANTED, as_of=end, months=6)
    assert (body["status"], body["method"], body["coverage"]) == ("ok", "cohort", 0.8)
    assert (body["months"], body["currency"], body["cash_source"]) == (6, "usd", "invoices")
    assert [m["horizon"] for m in body["forecast"]] == [1, 2, 3, 4, 5, 6]
    first = body["forecast"][0]
    assert first["start"] == "2025-03-01T00:00:00Z" and first["end"] == "2025-04-01T00:00:00Z"
    for month in body["forecast"]:
        assert month["mrr_low_cents"] <= month["mrr_cents"] <= month["mrr_high_cents"]
        assert month["cash_low_cents"] <= month["cash_cents"] <= month["cash_high_cents"]
    # The history read: fourteen months, the last one's MRR as the ledger replays it.
    assert len(body["history"]) == 14
    assert body["history"][-1]["end"] == "2025-03-01T00:00:00Z"
    assert body["history"][-1]["mrr_cents"] == PLANTED.mrr_at(end)
    rates = body["rates"]
    assert [r["tenure"] for r in rates["retention"]] == ["0-2 months", "3-11 months", "12+ months"]
    assert rates["trial_starts_per_month"] == 20 and rates["fit_months"] == 12
    backtest = body["backtest"]
    assert [h["horizon"] for h in backtest["horizons"]] == [1, 3, 6, 12]
    # Six months to fit before the first cutoff, at least one to compare after the last.
    assert backtest["cutoffs"][0] == "2024-07-01T00:00:00Z"
    assert backtest["cutoffs"][-1] == "2025-02-01T00:00:00Z"
    assert [h["forecasts"] for h in backtest["horizons"]] == [8, 6, 3, 0]
    assert backtest["horizons"][-1]["mrr_mape"] is None
    assert 0 <= backtest["horizons"][0]["mrr_mape"] < 0.1


async def test_twelve_months_from_now_by_default(http: httpx.AsyncClient) -> None:
    body = await _forecast(http)
    assert body["months"] == 12 and len(body["forecast"]) == 12
    # Months with no ledger rows since the history ended: the book carried forward.
    assert body["status"] == "ok"
    assert body["history"][-1]["mrr_cents"] == PLANTED.mrr_at(PLANTED.end)


async def test_too_little_history_is_said_plainly(http: httpx.AsyncClient) -> None:
    as_of = add_months(PLANTED.start, 4)
    body = await _forecast(http, as_of=as_of.date().isoformat())
    assert body == _engine(PLANTED, as_of=as_of, months=12)
    assert body["status"] == "insufficient_history"
    assert body["forecast"] == [] and body["rates"] is None
    assert "Too little history" in body["note"] and "4 month(s) of revenue" in body["note"]
    assert body["backtest"]["note"].startswith("Not backtested")
    assert len(body["history"]) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"months": "0"}, "months"),
        ({"months": "25"}, "months"),
        ({"months": "a year"}, "months"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "1899-12-31"}, "as_of"),
        ({"as_of": "9999-12-31T23:00:00-05:00"}, "as_of"),
    ],
)
async def test_bad_parameters_are_problems_naming_the_field(
    http: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await http.get(PATH, params=params, headers=auth(ADMIN_KEY))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_admins_only(http: httpx.AsyncClient) -> None:
    assert (await http.get(PATH, headers=auth(APP_KEY))).status_code == 403
    assert (await http.get(PATH)).status_code == 401


async def test_openapi_documents_the_forecast(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    operation = schema["paths"][PATH]["get"]
    assert "MAPE" in operation["description"] and "cohort" in operation["description"]
    assert {p["name"] for p in operation["parameters"]} == {"months", "as_of"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ForecastView")
    components = schema["components"]["schemas"]
    for name in ("ForecastView", "ForecastMonthView", "HorizonAccuracyView"):
        for field, spec in components[name]["properties"].items():
            assert spec.get("description"), (name, field)
