"""The dashboard's segments and campaigns section: sizes, each campaign's results, names
escaped, a hint when there is nothing yet; and the page an admin signs in to shows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.client import Client

from api.dashboard.campaigns import render
from core.temporal import DATA_CONVERTER
from db.models import Campaign
from domain.growth.campaigns import CampaignOutcome
from domain.growth.segments import Segment, SegmentRules
from services.campaigns import CampaignResults
from tests.factories.apps import api_client
from tests.factories.databases import Database
from tests.factories.settings import ADMIN_KEY, auth, make_settings

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _results() -> CampaignResults:
    campaign = Campaign(
        id="k1",
        segment_id="s",
        segment_name="<i>Risky</i>",
        rules={},
        coupon="SAVE30",
        headline="30% <off>",
        conversion_days=30,
        status="sent",
        created_by="admin:x",
        created_at=NOW,
    )
    outcome = CampaignOutcome(
        audience=10,
        unreachable=1,
        sent=8,
        not_sent=1,
        opened=3,
        accepted=2,
        converted_to_paid=1,
        converted=2,
        mrr_gained_cents=12345,
        conversion_rate=0.25,
    )
    return CampaignResults(campaign, outcome, pending=0)


def test_sizes_and_results_are_shown_escaped() -> None:
    segment = Segment("s", "<b>Risky</b>", "high risk", SegmentRules(churn_risks=("high",)))
    html = render([(segment, 42)], [_results()], currency="usd")
    assert "<b>Risky</b>" not in html and "&lt;b&gt;Risky&lt;/b&gt;" in html
    assert '<tr data-segment="s"><td>&lt;b&gt;Risky&lt;/b&gt;</td>' in html
    assert "<td>42</td>" in html
    assert (
        '<tr data-campaign="k1"><td>30% &lt;off&gt;</td><td>&lt;i&gt;Risky&lt;/i&gt;</td>'
        "<td>sent</td><td>10</td><td>8</td><td>2</td><td>3</td><td>2 (25%)</td>"
        "<td>$123.45</td></tr>"
    ) in html
    assert "email opens are not tracked" in html


def test_nothing_yet_says_how_to_start() -> None:
    html = render([], [], currency="usd")
    assert "add [segments.&lt;id&gt;] to the config" in html
    assert "lifecycle campaigns create" in html


@pytest.fixture
async def admin(own_database: Database, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=own_database.url, task_queue=task_queue)
    temporal = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
    async with api_client(settings, temporal) as client:
        yield client


async def test_the_dashboard_shows_the_section(admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/v1/admin/campaigns",
        json={"segment": "expired-trials", "coupon": "SAVE30", "headline": "Come back"},
        headers=auth(ADMIN_KEY),
    )
    assert created.status_code == 201, created.text
    signed_in = await admin.post(
        "/admin/login",
        content=f"api_key={ADMIN_KEY}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert signed_in.status_code == 303
    page = await admin.get("/admin")
    assert page.status_code == 200
    assert '<section id="campaigns">' in page.text
    assert 'data-segment="high-risk-payers"' in page.text
    assert f'data-campaign="{created.json()["id"]}"' in page.text
