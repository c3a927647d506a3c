"""`lifecycle segments` and `lifecycle campaigns` as an operator runs them on a database of
generated customers: sizes, a campaign created, dry-run (nothing recorded but its size),
shown; a send with Temporal away fails clearly and sends nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import func, select

from core.settings import REPO_ROOT
from db.models import Campaign, CampaignRecipient
from tests.factories.databases import Database
from tests.factories.segments import write_population


async def _cli(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database.url, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lifecycle", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_segments_and_a_campaign_from_the_command_line(own_database: Database) -> None:
    await write_population(own_database.sessions, size=200, planted=5, now=datetime.now(UTC))
    listed = await _cli(own_database, "segments", "list")
    assert listed.returncode == 0, listed.stderr
    assert "high-risk-payers" in listed.stdout and "(config)" in listed.stdout
    unknown = await _cli(own_database, "segments", "preview", "nope")
    assert unknown.returncode == 1 and "no segment 'nope'" in unknown.stderr

    created = await _cli(
        own_database,
        "campaigns",
        "create",
        "--segment",
        "high-risk-payers",
        "--coupon",
        "SAVE30",
        "--headline",
        "30% off your next invoice",
    )
    assert created.returncode == 0, created.stderr
    async with own_database.sessions() as session:
        campaign = await session.scalar(select(Campaign))
    assert campaign is not None and campaign.created_by == "cli"
    bad = await _cli(
        own_database,
        "campaigns",
        "create",
        "--segment",
        "high-risk-payers",
        "--coupon",
        "NOPE",
        "--headline",
        "x",
    )
    assert bad.returncode == 1 and "no coupon 'NOPE'" in bad.stderr

    dry = await _cli(own_database, "campaigns", "send", campaign.id, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would offer" in dry.stdout
    sent = await _cli(own_database, "campaigns", "send", campaign.id)
    assert sent.returncode == 1 and "error:" in sent.stderr
    shown = await _cli(own_database, "campaigns", "show", campaign.id)
    assert shown.returncode == 0, shown.stderr
    assert "email opens are not tracked" in shown.stdout
    listed = await _cli(own_database, "campaigns", "list")
    assert campaign.id in listed.stdout and "draft" in listed.stdout
    async with own_database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CampaignRecipient)) == 0
        again = await session.get(Campaign, campaign.id)
    assert again is not None and again.dry_run_audience is not None
    assert f"would offer {again.dry_run_audience:,} customers" in dry.stdout
