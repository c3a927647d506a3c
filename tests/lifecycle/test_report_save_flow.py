"""`lifecycle report save-flow` as an admin runs it, over the scripted ledger of
tests/factories/save_flow.py written through the hash chain into a database
of its own: the table, the API's body with --json, a bad range refused naming the option."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from core.settings import REPO_ROOT
from db.engine import create_engine, session_factory
from domain.reporting.ledger import LedgerRow
from tests.factories.databases import create_database, drop_database
from tests.factories.records import append_row
from tests.factories.save_flow import EVENTS, at


@pytest.fixture(scope="module")
async def seeded(pg_admin_url: str) -> AsyncIterator[str]:
    url = await create_database(pg_admin_url, prefix="lc_save_flow_cli")
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as session:
            for n, event in enumerate(EVENTS):
                row = LedgerRow(
                    customer_id=event.customer_id,
                    kind=event.kind,
                    occurred_at=event.at,
                    data=event.data,
                    actor="app:test",
                )
                await append_row(session, row, event_key=f"e{n}", recorded_at=at(60))
        yield url
    finally:
        await engine.dispose()
        await drop_database(pg_admin_url, url)


def _report(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_CONFIG"}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", "report", "save-flow", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prints_outcomes_take_up_and_sent_offers(seeded: str) -> None:
    window = ("--from", at(0).strftime("%Y-%m-%d"), "--to", at(60).strftime("%Y-%m-%d"))
    result = _report(seeded, *window)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("4 request(s), 3 saved (75.00%)")
    expensive = next(line for line in lines if line.startswith("too_expensive"))
    assert expensive.split() == ["too_expensive", "2", "1", "1", "0", "50.00%"]
    campaign = next(line for line in lines if line.startswith("campaign"))
    assert campaign.split() == ["campaign", "2", "1", "1", "50.00%"]

    body = json.loads(_report(seeded, *window, "--json").stdout)
    assert (body["requests"], body["saved"]) == (4, 3)
    coupon = next(o for o in body["offers"] if o["kind"] == "coupon")
    assert (coupon["shown"], coupon["accepted"], coupon["stayed"]) == (3, 1, 1)


def test_a_bad_range_names_the_option(seeded: str) -> None:
    result = _report(seeded, "--from", "2026-03-01", "--to", "2026-02-01")
    assert result.returncode == 2
    assert "from" in result.stderr
