"""`GET /v1/admin/reports/competitive` over lifecycle.toml's catalog and the rival of
``tests/factories/competitors.py``, figures worked out by hand:

Usage 4 chatbots, 8,000 messages a month (tokens and api_calls 0):

- Starter monthly: 2,900 + 1 extra chatbot (500) + 3,000 messages short: 1 message pack
  (1,000) = 4,400. Pro: 9,900, fits. Enterprise: per contract.
- Rival Team: 4,000 + 5,000 messages over at 0.5 cent = 6,500. Starter - Team = -2,100,
  -2,100 / 6,500 = -0.3231; Pro - Team = 3,400, 0.5231.
- Yearly: Starter 29,580 a year = 2,465 a month; the chatbot 5,100 a year = 425; 96,000
  messages a year against 60,000: 36,000 short, 4 packs x round(1,000 / 12) = 332; 3,222.
  Rival's yearly Team has no overage: 8,000 messages exceed its 3,000, so it does not
  cover the usage and nothing is compared with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.factories.apps import api_client
from tests.factories.competitors import config_with_competitors
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings

PATH = "/v1/admin/reports/competitive"


@pytest.fixture
async def http(
    tmp_path: Path, database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        config_path=config_with_competitors(tmp_path),
    )
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def _report(http: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await http.get(PATH, params=params, headers=auth(ADMIN_KEY))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_cost_at_a_requested_usage(http: httpx.AsyncClient) -> None:
    body = await _report(http, chatbots="4", messages="8000")
    assert (body["currency"], body["interval"]) == ("usd", "month")
    (comparison,) = body["comparisons"]
    assert comparison["profile"] == "requested"
    assert comparison["usage"] == {"chatbots": 4, "messages": 8000, "tokens": 0, "api_calls": 0}
    assert (comparison["cheapest_plan_id"], comparison["monthly_cents"]) == ("starter", 4400)
    ours = {plan["plan_id"]: plan for plan in comparison["ours"]}
    starter = ours["starter"]
    assert (starter["covers"], starter["plan_cents"], starter["monthly_cents"]) == (
        True,
        2900,
        4400,
    )
    assert [(a["addon_id"], a["quantity"], a["monthly_cents"]) for a in starter["addons"]] == [
        ("extra_chatbot", 1, 500),
        ("message_pack", 1, 1000),
    ]
    assert starter["versus"] == [
        {
            "competitor_id": "rival",
            "competitor_plan_id": "team",
            "difference_cents": -2100,
            "difference_rate": -0.3231,
        }
    ]
    assert ours["pro"]["monthly_cents"] == 9900
    assert ours["pro"]["versus"][0]["difference_cents"] == 3400
    assert ours["pro"]["versus"][0]["difference_rate"] == 0.5231
    enterprise = ours["enterprise"]
    assert enterprise["priced_per_contract"] and not enterprise["covers"]
    assert (enterprise["monthly_cents"], enterprise["versus"]) == (None, [])
    (rival,) = comparison["competitors"]
    assert (rival["cheapest_plan_id"], rival["monthly_cents"]) == ("team", 6500)
    assert rival["plans"] == [
        {
            "plan_id": "team",
            "plan_name": "Team",
            "covers": True,
            "monthly_cents": 6500,
            "plan_cents": 4000,
            "overage_cents": 2500,
            "over_limit": [],
            "unknown": [],
        }
    ]


async def test_price_per_unit(http: httpx.AsyncClient) -> None:
    rows = {(r["vendor"], r["plan_id"]): r for r in (await _report(http))["unit_prices"]}
    assert list(rows) == [
        ("ChatbotCloud", "starter"),
        ("ChatbotCloud", "pro"),
        ("Rival Bots", "team"),
    ]
    starter = {u["metric"]: u for u in rows["ChatbotCloud", "starter"]["units"]}
    # 2,900 / 3 chatbots = 966.67; / 5,000 x 1,000 messages = 580; / 2M x 1M = 1,450.
    assert [starter[m]["cents_per_unit"] for m in ("chatbots", "messages", "tokens")] == [
        967,
        580,
        1450,
    ]
    assert starter["messages"]["unit"] == "1,000 messages"
    team = {u["metric"]: u for u in rows["Rival Bots", "team"]["units"]}
    assert team["messages"] == {
        "metric": "messages",
        "unit": "1,000 messages",
        "unit_size": 1000,
        "limit_kind": "limited",
        "limit": 3000,
        "cents_per_unit": 1333,
        "overage_cents_per_unit": 500,
    }
    assert (team["tokens"]["limit_kind"], team["tokens"]["cents_per_unit"]) == ("unlimited", None)
    assert team["chatbots"]["cents_per_unit"] == 800


async def test_without_usage_the_default_profiles(http: httpx.AsyncClient) -> None:
    comparisons = (await _report(http))["comparisons"]
    # Per metric the lowest, midpoint and highest limit of Starter and Pro.
    assert [(c["profile"], c["usage"]) for c in comparisons] == [
        ("small", {"chatbots": 3, "messages": 5000, "tokens": 2_000_000, "api_calls": 10_000}),
        (
            "medium",
            {"chatbots": 9, "messages": 27_500, "tokens": 11_000_000, "api_calls": 55_000},
        ),
        (
            "large",
            {"chatbots": 15, "messages": 50_000, "tokens": 20_000_000, "api_calls": 100_000},
        ),
    ]
    medium = {plan["plan_id"]: plan for plan in comparisons[1]["ours"]}
    # Nothing lifts tokens above Starter's 2M: reported, not priced.
    assert (medium["starter"]["covers"], medium["starter"]["uncovered"]) == (False, ["tokens"])
    assert medium["starter"]["monthly_cents"] is None
    assert comparisons[1]["cheapest_plan_id"] == "pro"


async def test_yearly_compares_yearly_plans_only(http: httpx.AsyncClient) -> None:
    body = await _report(http, chatbots="4", messages="8000", interval="year")
    assert [r["plan_id"] for r in body["unit_prices"]] == ["starter", "pro", "team_yearly"]
    assert body["unit_prices"][2]["monthly_cents"] == 3000
    (comparison,) = body["comparisons"]
    assert (comparison["cheapest_plan_id"], comparison["monthly_cents"]) == ("starter", 3222)
    (rival,) = comparison["competitors"]
    assert rival["cheapest_plan_id"] is None
    assert rival["plans"][0]["over_limit"] == ["messages"]
    assert all(plan["versus"] == [] for plan in comparison["ours"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"messages": "-1"}, "messages"),
        ({"tokens": "1.5"}, "tokens"),
        ({"chatbots": "three"}, "chatbots"),
        ({"api_calls": str(10**12 + 1)}, "api_calls"),
        ({"api_calls": str(10**30)}, "api_calls"),
        ({"interval": "week"}, "interval"),
    ],
)
async def test_bad_usage_is_a_problem_naming_the_field(
    http: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await http.get(PATH, params=params, headers=auth(ADMIN_KEY))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_admins_only_and_documented(http: httpx.AsyncClient) -> None:
    assert (await http.get(PATH, headers=auth(APP_KEY))).status_code == 403
    assert (await http.get(PATH)).status_code == 401
    schema = (await http.get("/openapi.json")).json()
    operation = schema["paths"][PATH]["get"]
    assert "cheapest add-on" in operation["description"]
    assert {p["name"] for p in operation["parameters"]} == {
        "chatbots",
        "messages",
        "tokens",
        "api_calls",
        "interval",
    }
    fields = schema["components"]["schemas"]["OurPlanCostView"]["properties"]
    assert "description" in fields["monthly_cents"]
