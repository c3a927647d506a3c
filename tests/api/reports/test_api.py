"""The scripted history written into a real PostgreSQL database (ledger rows through
``append_ledger``, invoices through the invoice mirror) and read back through
``GET /v1/admin/metrics``, every CSV report and ``lifecycle report mrr``: the same figures as
the pure engine, which ``tests/domain/reporting/`` checks by hand.

A database of its own: the metrics cover every customer, and other tests share theirs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.reports.service import metrics_view, render_csv
from core.settings import REPO_ROOT
from domain.reporting.csv_export import CSV_COLUMNS
from domain.reporting.net_of_tax import TaxBasis
from domain.reporting.report import Report, compute_report
from tests.factories.apps import api_client
from tests.factories.databases import create_database, drop_database
from tests.factories.reporting import END, LETTERS, START, Script, scripted_history, write_history
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings

RANGE = {"from": "2026-01-01", "to": "2026-05-01"}


@pytest.fixture(scope="module")
async def seeded(pg_admin_url: str) -> AsyncIterator[tuple[str, Script]]:
    url = await create_database(pg_admin_url, prefix="lc_reports")
    script = scripted_history({letter: str(uuid.uuid4()) for letter in LETTERS})
    try:
        await write_history(url, script)
        yield url, script
    finally:
        await drop_database(pg_admin_url, url)


@pytest.fixture
async def http(
    seeded: tuple[str, Script], dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=seeded[0], task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as client:
        yield client


def _expected(script: Script, **filters: Any) -> Report:
    return compute_report(script.rows, script.invoices, start=START, end=END, **filters)


def _view(report: Report) -> dict[str, Any]:
    # Tax off (lifecycle.toml): the eight customers who were invoiced take their share (1:
    # no tax) from their invoices; H and I never paid, with nothing to estimate from.
    shares = TaxBasis("net", from_invoice=8, estimated=0, untaxed=2)
    return metrics_view(report, currency="usd", tax=shares).model_dump(mode="json", by_alias=True)


async def _metrics(http: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await http.get("/v1/admin/metrics", params=params, headers=auth(ADMIN_KEY))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_metrics_json_matches_the_engine(
    http: httpx.AsyncClient, seeded: tuple[str, Script]
) -> None:
    _, script = seeded
    ids = script.ids
    body = await _metrics(http, **RANGE)
    # The headline figures worked out by hand in tests/domain/reporting/.
    assert body["from"] == "2026-01-01T00:00:00Z"
    assert body["to"] == "2026-05-01T00:00:00Z"
    assert (body["mrr_cents"], body["recurring_mrr_cents"], body["overage_mrr_cents"]) == (
        38765,
        37765,
        1000,
    )
    assert body["arr_cents"] == 465180
    assert (
        body["active_customers"],
        body["trialing_customers"],
        body["past_due_customers"],
        body["paying_customers"],
    ) == (5, 1, 1, 6)
    assert body["trial_conversion_rate"] == 0.7778
    assert body["logo_churn_rate"] == 0.1667
    assert body["revenue_churn_rate"] == 0.19
    assert body["dunning_recovery_rate"] == 0.5
    assert (body["arpu_cents"], body["ltv_cents"]) == (6461, 33996)
    moves = body["mrr_movements"]
    assert [moves[k]["cents"] for k in ("new", "expansion", "contraction", "churned")] == [
        46815,
        7850,
        -7000,
        -15700,
    ]
    assert (moves["reactivated"]["cents"], moves["net_cents"]) == (2900, 34865)
    assert moves["churned"]["count"] == 3
    assert {c["customer_id"]: c["cents"] for c in moves["churned"]["customers"]} == {
        ids["E"]: -9900,
        ids["D"]: -2900,
        ids["F"]: -2900,
    }
    assert [p["mrr_cents"] for p in body["mrr_series"]] == [36915, 41865, 37765, 38765]
    assert [p["month"] for p in body["mrr_series"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    funnel = body["trial_funnel"]
    assert (funnel["started"], funnel["converted"], funnel["median_days_to_convert"]) == (
        9,
        7,
        12.0,
    )
    assert [c["week"] for c in funnel["cohorts"]] == [
        "2026-W02",
        "2026-W03",
        "2026-W06",
        "2026-W08",
        "2026-W17",
    ]
    assert [m["revenue_churn_rate"] for m in body["churn"]["months"]] == [
        0.0,
        0.1571,
        0.4037,
        0.0,
    ]
    assert [c["revenue_cents"] for c in body["cohorts"]] == [162430, 8120, 19800]
    assert [p["total"] for p in body["lifecycle"]] == [6, 9, 9, 10]
    assert body["revenue"] == {
        "payments": 21,
        "payments_cents": 220800,
        "refunds": 1,
        "refunds_cents": 2000,
        "net_revenue_cents": 218800,
    }
    # And every other field: identical to the pure engine on the same rows.
    assert body == _view(_expected(script))


async def test_filters_and_granularity(http: httpx.AsyncClient, seeded: tuple[str, Script]) -> None:
    _, script = seeded
    pro = await _metrics(http, **RANGE, plan="pro")
    assert (pro["plan"], pro["recurring_mrr_cents"], pro["mrr_cents"]) == ("pro", 29065, 30065)
    assert (
        pro["mrr_movements"]["transfer_in_cents"],
        pro["mrr_movements"]["transfer_out_cents"],
    ) == (2900, 9900)
    assert pro == _view(_expected(script, plan="pro"))
    annual = await _metrics(http, **RANGE, interval="year", granularity="week")
    assert annual["recurring_mrr_cents"] == 9265
    assert annual["lifecycle"][0]["period"] == "2026-W01"
    assert annual == _view(_expected(script, interval="year", granularity="week"))
    # Date-times work as well as dates; a naive one is UTC.
    same = await _metrics(http, **{"from": "2026-01-01T00:00:00Z", "to": "2026-05-01T00:00:00"})
    assert same["mrr_cents"] == 38765


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("name", list(CSV_COLUMNS))
async def test_csv_reports_match_the_engine(
    http: httpx.AsyncClient, seeded: tuple[str, Script], name: str
) -> None:
    _, script = seeded
    response = await http.get(
        f"/v1/admin/reports/{name}.csv", params=RANGE, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="{name}_20260101_20260501.csv"' in response.headers["content-disposition"]
    assert response.text.splitlines()[0] == ",".join(CSV_COLUMNS[name])
    assert response.text == render_csv(_expected(script), name)


async def test_csv_figures(http: httpx.AsyncClient, seeded: tuple[str, Script]) -> None:
    _, script = seeded
    ids = script.ids

    async def table(name: str, **params: str) -> list[dict[str, str]]:
        response = await http.get(
            f"/v1/admin/reports/{name}.csv", params={**RANGE, **params}, headers=auth(ADMIN_KEY)
        )
        assert response.status_code == 200, response.text
        return _csv(response.text)

    movements = await table("mrr_movements")
    assert len(movements) == 14
    assert sum(int(r["delta_cents"]) for r in movements) == 34865
    assert movements[0] == {
        "occurred_at": "2026-01-12T12:00:00Z",
        "customer_id": ids["B"],
        "movement": "new",
        "event": "trial_converted",
        "plan": "pro",
        "interval": "month",
        "mrr_before_cents": "0",
        "mrr_after_cents": "9900",
        "delta_cents": "9900",
        "voluntary": "",
    }
    assert [r["voluntary"] for r in movements if r["movement"] == "churned"] == [
        "true",
        "false",
        "true",
    ]
    payments = await table("payments")
    assert (len(payments), sum(int(r["amount_paid_cents"]) for r in payments)) == (21, 220800)
    refunds = await table("refunds")
    assert [(r["customer_id"], r["amount_refunded_cents"]) for r in refunds] == [(ids["B"], "2000")]
    invoices = await table("invoices")
    assert len(invoices) == 23
    assert {r["status"] for r in invoices} == {"paid", "open", "uncollectible"}
    churn = await table("churn")
    assert [(r["month"], r["logo_churn_rate"], r["revenue_churn_rate"]) for r in churn] == [
        ("2026-01", "0.0000", "0.0000"),
        ("2026-02", "0.3333", "0.1571"),
        ("2026-03", "0.2000", "0.4037"),
        ("2026-04", "0.0000", "0.0000"),
    ]
    assert churn[3]["dunning_recovery_rate"] == ""
    funnel = await table("trial_funnel")
    assert [(r["cohort_week"], r["trials_started"], r["conversion_rate"]) for r in funnel] == [
        ("2026-W02", "4", "1.0000"),
        ("2026-W03", "1", "1.0000"),
        ("2026-W06", "2", "0.5000"),
        ("2026-W08", "1", "1.0000"),
        ("2026-W17", "1", "0.0000"),
    ]
    cohorts = await table("cohorts")
    assert [(r["cohort_month"], r["month_offset"], r["cumulative_revenue_cents"]) for r in cohorts][
        :4
    ] == [
        ("2026-01", "0", "124580"),
        ("2026-01", "1", "153730"),
        ("2026-01", "2", "159530"),
        ("2026-01", "3", "162430"),
    ]
    lifecycle = await table("lifecycle", granularity="day")
    assert len(lifecycle) == 120  # Jan 1 .. Apr 30
    assert lifecycle[-1]["period"] == "2026-04-30"
    assert (lifecycle[-1]["active"], lifecycle[-1]["total"]) == ("5", "10")
    mrr = await table("mrr")
    assert [r["mrr_cents"] for r in mrr] == ["36915", "41865", "37765", "38765"]


async def test_defaults_are_the_last_twelve_months(http: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    body = await _metrics(http)
    to = datetime.fromisoformat(body["to"])
    assert before - timedelta(seconds=1) <= to <= datetime.now(UTC)
    start = datetime.fromisoformat(body["from"])
    assert (to.year - start.year) * 12 + to.month - start.month == 12
    assert len(body["mrr_series"]) == 13  # the cut first and last months


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-05-01", "to": "2026-01-01"}, "from"),
        ({"from": "2026-01-01", "to": "2026-01-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "1900-01-01", "to": "2026-01-01"}, "from"),
        ({"plan": "platinum"}, "plan"),
        ({"interval": "week"}, "interval"),
        ({"granularity": "hour"}, "granularity"),
    ],
)
async def test_bad_parameters_are_problems_naming_the_field(
    http: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    for path in ("/v1/admin/metrics", "/v1/admin/reports/churn.csv"):
        response = await http.get(path, params=params, headers=auth(ADMIN_KEY))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_unknown_report_and_scopes(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/admin/reports/bananas.csv", headers=auth(ADMIN_KEY))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "mrr_movements" in response.json()["detail"]
    for path in ("/v1/admin/metrics", "/v1/admin/reports/churn.csv"):
        assert (await http.get(path, headers=auth(APP_KEY))).status_code == 403
        assert (await http.get(path)).status_code == 401


async def test_openapi_documents_the_metrics(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    metrics = schema["paths"]["/v1/admin/metrics"]["get"]
    assert "metered overage" in metrics["description"]
    assert {p["name"] for p in metrics["parameters"]} == {
        "from",
        "to",
        "plan",
        "interval",
        "granularity",
    }
    ref = metrics["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/MetricsView")
    fields = schema["components"]["schemas"]["MetricsView"]["properties"]
    for name in (
        "mrr_cents",
        "arr_cents",
        "active_customers",
        "trialing_customers",
        "past_due_customers",
        "trial_conversion_rate",
        "logo_churn_rate",
        "revenue_churn_rate",
        "arpu_cents",
        "ltv_cents",
        "mrr_movements",
        "mrr_series",
        "trial_funnel",
        "churn",
        "cohorts",
        "lifecycle",
    ):
        assert name in fields, name
    csv_doc = schema["paths"]["/v1/admin/reports/{name}.csv"]["get"]
    assert "text/csv" in csv_doc["responses"]["200"]["content"]
    assert ", ".join(f"`{c}`" for c in CSV_COLUMNS["payments"]) in csv_doc["description"]


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_CONFIG"}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", "report", "mrr", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_prints_the_same_figures_as_the_api(
    http: httpx.AsyncClient, seeded: tuple[str, Script]
) -> None:
    url, _ = seeded
    result = _cli(url, "--from", "2026-01-01", "--to", "2026-05-01")
    assert result.returncode == 0, result.stderr
    # Figures are indented under their headings: index them by their first word.
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    body = await _metrics(http, **RANGE)
    assert body["mrr_cents"] == 38765
    assert "$387.65" in lines["MRR"]
    assert "recurring $377.65 + overage $10.00" in lines["MRR"]
    assert "$4,651.80" in lines["ARR"]
    assert "$64.61" in lines["ARPU"] and "$339.96" in lines["LTV"]
    assert "+$468.15" in lines["new"] and "-$157.00" in lines["churned"]
    assert "+$348.65" in lines["net"]
    assert "logo 16.67%   revenue 19.00%" in result.stdout
    assert "active 5   past_due 1" in result.stdout
    assert "2026-04" in lines and "$387.65" in lines["2026-04"]

    as_json = _cli(url, "--from", "2026-01-01", "--to", "2026-05-01", "--plan", "pro", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == await _metrics(http, **RANGE, plan="pro")


def test_cli_refuses_a_reversed_range(seeded: tuple[str, Script]) -> None:
    result = _cli(seeded[0], "--from", "2026-05-01", "--to", "2026-01-01")
    assert result.returncode == 2
    assert "--from" in result.stderr
