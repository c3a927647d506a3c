"""The segments and campaigns endpoints on a database of their own: sizes and a preview on
generated customers, a campaign created (idempotently), dry-run, listed and read; every
mistake a problem naming the field, unknown ids 404, the admin scope required. Temporal is
unreachable here: a real send answers 503 and leaves the campaign a draft."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from temporalio.client import Client

from core.temporal import DATA_CONVERTER
from db.models import Campaign, CampaignRecipient, CustomerUsageGroup, UsageGroupRow
from tests.factories.apps import api_client
from tests.factories.databases import Database
from tests.factories.responses import assert_problem, fields, ok
from tests.factories.segments import write_population
from tests.factories.settings import ADMIN_KEY, auth, make_settings

NOW = datetime.now(UTC)
ADMIN = auth(ADMIN_KEY)


@pytest.fixture
async def admin(own_database: Database, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=own_database.url, task_queue=task_queue)
    temporal = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
    async with api_client(settings, temporal) as client:
        yield client


@pytest.fixture
async def population(own_database: Database) -> int:
    """300 customers and the usage groups they are in; answers the size of group 2."""
    await write_population(own_database.sessions, size=300, planted=12, now=NOW)
    async with own_database.sessions.begin() as session:
        for group in (0, 1, 2):
            session.add(
                UsageGroupRow(
                    group_id=group,
                    description=f"group {group}",
                    customers=0,
                    trend="flat",
                    rhythm="weekdays",
                    median_weekly_messages=100,
                    silhouette=0.5,
                    computed_at=NOW,
                )
            )
        size = await session.scalar(
            select(func.count())
            .select_from(CustomerUsageGroup)
            .where(CustomerUsageGroup.group_id == 2)
        )
    return int(size or 0)


def _campaign(**overrides: object) -> dict[str, object]:
    return {"segment": "high-risk-payers", "coupon": "SAVE30", "headline": "30% off", **overrides}


async def test_the_admin_scope_is_required(admin: httpx.AsyncClient) -> None:
    assert_problem(await admin.get("/v1/admin/segments"), 401)
    assert_problem(await admin.get("/v1/admin/segments", headers=auth()), 403)
    assert_problem(await admin.post("/v1/admin/campaigns", json=_campaign(), headers=auth()), 403)


async def test_segments_with_their_sizes_and_a_preview(
    admin: httpx.AsyncClient, population: int
) -> None:
    listed = ok(await admin.get("/v1/admin/segments", headers=ADMIN))["data"]
    by_id = {s["id"]: s for s in listed}
    assert {"high-risk-payers", "declining-pro", "expired-trials"} <= set(by_id)
    assert by_id["usage-group:2"]["computed"] is True
    assert by_id["usage-group:2"]["size"] == population
    assert by_id["usage-group:2"]["rules"] == {"usage_groups": [2]}
    preview = ok(
        await admin.get("/v1/admin/segments/usage-group:2/preview?sample=5", headers=ADMIN)
    )
    assert preview["audience"] == population
    assert len(preview["sample"]) == 5
    assert all(m["matched"] == {"usage_group": 2} for m in preview["sample"])
    missing = await admin.get("/v1/admin/segments/nope/preview", headers=ADMIN)
    assert_problem(missing, 404, "not-found")
    bad = await admin.get("/v1/admin/segments/usage-group:2/preview?sample=-1", headers=ADMIN)
    assert fields(assert_problem(bad, 422)) == ["sample"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_campaign(segment="nope"), "segment"),
        (_campaign(coupon="FREE100"), "coupon"),
        (_campaign(expires_at=(NOW - timedelta(days=1)).isoformat()), "expires_at"),
        (_campaign(headline=""), "headline"),
        (_campaign(conversion_days=0), "conversion_days"),
        (_campaign(colour="red"), "colour"),
        ({"coupon": "SAVE30", "headline": "x"}, "segment"),
    ],
)
async def test_a_bad_campaign_is_a_problem_naming_the_field(
    admin: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await admin.post("/v1/admin/campaigns", json=body, headers=ADMIN)
    assert fields(assert_problem(response, 422)) == [field]


async def test_create_dry_run_list_and_read_a_campaign(
    admin: httpx.AsyncClient, population: int, own_database: Database
) -> None:
    headers = {**ADMIN, "Idempotency-Key": "campaign-1"}
    body = _campaign(segment="usage-group:2")
    created = ok(await admin.post("/v1/admin/campaigns", json=body, headers=headers), 201)
    assert created["status"] == "draft" and created["offer_id"] == f"campaign:{created['id']}"
    again = ok(await admin.post("/v1/admin/campaigns", json=body, headers=headers))
    assert again["id"] == created["id"]
    reused = await admin.post(
        "/v1/admin/campaigns", json={**body, "headline": "other"}, headers=headers
    )
    assert_problem(reused, 422, "idempotency-key-reused")

    url = f"/v1/admin/campaigns/{created['id']}"
    dry = ok(await admin.post(f"{url}/send?sample=3", json={"dry_run": True}, headers=ADMIN))
    assert dry["dry_run"] is True and dry["audience"] == population
    assert len(dry["sample"]) == 3
    assert dry["campaign"]["dry_run_audience"] == population
    async with own_database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CampaignRecipient)) == 0

    listed = ok(await admin.get("/v1/admin/campaigns", headers=ADMIN))["data"]
    assert [c["id"] for c in listed] == [created["id"]]
    shown = ok(await admin.get(url, headers=ADMIN))
    assert shown["campaign"]["status"] == "draft"
    assert shown["results"]["sent"] == 0 and shown["results"]["audience"] == 0

    # Temporal is away: the send is refused, to be repeated, and nothing was chosen.
    down = await admin.post(f"{url}/send", headers=ADMIN)
    assert_problem(down, 503, "temporal-unavailable")
    shown = ok(await admin.get(url, headers=ADMIN))
    assert shown["campaign"]["status"] == "draft" and shown["campaign"]["audience"] is None

    # An offer that expired before it went out is not sent.
    async with own_database.sessions.begin() as session:
        await session.execute(update(Campaign).values(expires_at=NOW - timedelta(minutes=1)))
    assert_problem(await admin.post(f"{url}/send", headers=ADMIN), 409, "campaign-state")


async def test_unknown_campaigns_are_404(admin: httpx.AsyncClient) -> None:
    assert_problem(await admin.get("/v1/admin/campaigns/nope", headers=ADMIN), 404, "not-found")
    sent = await admin.post("/v1/admin/campaigns/nope/send", headers=ADMIN)
    assert_problem(sent, 404, "not-found")
    dry = await admin.post("/v1/admin/campaigns/nope/send", json={"dry_run": True}, headers=ADMIN)
    assert_problem(dry, 404, "not-found")
    bad = await admin.post(
        "/v1/admin/campaigns/nope/send", json={"dry_run": "maybe"}, headers=ADMIN
    )
    assert fields(assert_problem(bad, 422)) == ["dry_run"]
