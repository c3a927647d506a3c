"""Admin changes that move money or its reports write a ledger row in the transaction of
the change, naming the admin key (its fingerprint) and what changed: exchange rates stored
over the API or from the command line, and a customer's region override."""

from __future__ import annotations

import asyncio
import getpass
import os
import random
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.auth import Principal, Scope, key_fingerprint
from core.settings import REPO_ROOT
from db.engine import SessionFactory
from db.models import FxRate, LedgerEvent
from domain.reporting.currencies import Rate
from services import fx_admin
from services.fx_admin import FX_RATES_SET, store_rates_recorded
from services.region_override import REGION_OVERRIDDEN
from tests.factories.customers import unique_email
from tests.factories.databases import Database
from tests.factories.records import ledger
from tests.factories.responses import ok
from tests.factories.settings import ADMIN_KEY, auth

ADMIN_ACTOR = Principal(scope=Scope.ADMIN, key_id=key_fingerprint(ADMIN_KEY)).actor


def a_day_of_our_own() -> date:
    """A rate date no other test stores (the database is shared): its row is this test's."""
    return date(1990, 1, 1) + timedelta(days=random.randrange(20_000))


async def fx_rows(sessions: SessionFactory, day: date) -> list[LedgerEvent]:
    async with sessions() as session:
        rows = await session.scalars(
            select(LedgerEvent).where(LedgerEvent.kind == FX_RATES_SET).order_by(LedgerEvent.id)
        )
        return [r for r in rows if r.data.get("first_date") == day.isoformat()]


async def test_rates_stored_over_the_api_are_recorded_with_the_admin_and_the_counts(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    day = a_day_of_our_own()
    url = "/v1/admin/fx-rates"
    first = [
        {"date": day.isoformat(), "currency": "usd", "rate": "1.1"},
        {"date": day.isoformat(), "currency": "jpy", "rate": "160"},
        {"date": (day + timedelta(days=1)).isoformat(), "currency": "usd", "rate": "1.12"},
    ]
    assert ok(await client.put(url, json={"rates": first}, headers=auth(ADMIN_KEY))) == {
        "stored": 3
    }
    [row] = await fx_rows(sessions, day)
    assert row.actor == ADMIN_ACTOR
    assert row.customer_id is None and row.mrr_delta_cents == 0
    assert {k: row.data[k] for k in ("source", "rates", "new", "replaced", "changed")} == {
        "source": "admin-api",
        "rates": 3,
        "new": 3,
        "replaced": 0,
        "changed": 0,
    }
    assert row.data["currencies"] == ["jpy", "usd"]
    assert row.data["last_date"] == (day + timedelta(days=1)).isoformat()

    # A correction: one rate replaced with another value, one restated as it was.
    again = [
        {"date": day.isoformat(), "currency": "usd", "rate": "1.15"},
        {"date": day.isoformat(), "currency": "jpy", "rate": "160.0"},
    ]
    ok(await client.put(url, json={"rates": again}, headers=auth(ADMIN_KEY)))
    rows = await fx_rows(sessions, day)
    assert len(rows) == 2
    assert {k: rows[1].data[k] for k in ("rates", "new", "replaced", "changed")} == {
        "rates": 2,
        "new": 0,
        "replaced": 2,
        "changed": 1,
    }
    assert rows[1].data["sha256"] != rows[0].data["sha256"]

    # An app key stores nothing and records nothing.
    refused = await client.put(url, json={"rates": again}, headers=auth())
    assert refused.status_code == 403
    assert len(await fx_rows(sessions, day)) == 2


async def test_rates_are_not_stored_when_their_ledger_row_cannot_be(
    own_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: no rate changes without its audit row."""

    async def broken_ledger(*_: Any, **__: Any) -> bool:
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(fx_admin, "append_ledger", broken_ledger)
    rates = [Rate(date(2026, 1, 2), "usd", Decimal("1.1"), "eur", "test")]
    with pytest.raises(RuntimeError):
        await store_rates_recorded(
            own_database.sessions, rates, actor="admin:x", source="t", now=datetime.now(UTC)
        )
    async with own_database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(FxRate)) == 0


async def test_fx_load_records_the_operator_and_the_file(
    own_database: Database, tmp_path: Path
) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("date,currency,rate\n2026-01-02,usd,1.1\n2026-01-02,gbp,0.86\n")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lifecycle", "fx", "load", str(rates)],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": own_database.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    async with own_database.sessions() as session:
        [row] = list(
            await session.scalars(select(LedgerEvent).where(LedgerEvent.kind == FX_RATES_SET))
        )
    assert row.actor == f"cli:{getpass.getuser()}"
    assert row.data["source"] == str(rates)
    assert (row.data["rates"], row.data["currencies"]) == (2, ["gbp", "usd"])


async def test_an_admin_region_override_is_recorded_from_and_to(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    created = await client.post(
        "/v1/customers",
        json={
            "external_id": f"ext-{uuid.uuid4()}",
            "email": unique_email("override"),
            "country": "IN",
        },
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    url = f"/v1/admin/customers/{customer_id}/region"

    async def overrides() -> list[LedgerEvent]:
        rows = await ledger(sessions, customer_id)
        return [r for r in rows if r.kind == REGION_OVERRIDDEN]

    ok(await client.put(url, json={"region": "brazil"}, headers=auth(ADMIN_KEY)))
    [row] = await overrides()
    assert row.actor == ADMIN_ACTOR
    assert row.data == {
        "override": {"from": None, "to": "brazil"},
        "region": {"from": "india", "to": "brazil"},
    }
    assert row.mrr_delta_cents == 0 and row.to_status is None

    # The same override again changes nothing and records nothing; nor does the app
    # moving the customer's country (not an admin's act; the override still wins).
    ok(await client.put(url, json={"region": "brazil"}, headers=auth(ADMIN_KEY)))
    ok(
        await client.put(
            f"/v1/customers/{customer_id}/country", json={"country": "VN"}, headers=auth()
        )
    )
    assert len(await overrides()) == 1

    # Cleared: the customer follows its country (Vietnam, tier-c) again.
    ok(await client.put(url, json={"region": None}, headers=auth(ADMIN_KEY)))
    cleared = (await overrides())[-1]
    assert cleared.data == {
        "override": {"from": "brazil", "to": None},
        "region": {"from": "brazil", "to": "tier-c"},
    }
    # A refused override (unknown region, app key) records nothing.
    assert (
        await client.put(url, json={"region": "mars"}, headers=auth(ADMIN_KEY))
    ).status_code == 422
    assert (await client.put(url, json={"region": "india"}, headers=auth())).status_code == 403
    assert len(await overrides()) == 2
