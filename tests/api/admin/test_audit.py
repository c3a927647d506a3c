"""The audit trail: an append-only, hash-chained ledger that the application cannot rewrite,
whose tampering `lifecycle audit verify` detects, read through `GET /v1/admin/audit` and
exported as CSV by `lifecycle audit export`.

Runs in a database of its own (tampering with the shared one would break every other test
that verifies the chain), with the real API and worker on the dev server.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from temporalio.testing import WorkflowEnvironment

from api.auth import Principal, Scope, key_fingerprint
from core.config import EngineConfig
from db.ledger import CSV_COLUMNS, GENESIS_HASH, append_ledger, verify_chain
from db.models import EmailOutbox, LedgerEvent
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.databases import Database
from tests.factories.polling import eventually
from tests.factories.processes import lifecycle_cli
from tests.factories.responses import assert_problem, fields, ok
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings
from tests.factories.workers import make_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ADMIN_ACTOR = Principal(scope=Scope.ADMIN, key_id=key_fingerprint(ADMIN_KEY)).actor
REASON = "sales promised two more weeks"
Json = dict[str, Any]


@dataclass
class Lifecycle:
    db: Database
    http: httpx.AsyncClient
    customer_id: str
    other_id: str


async def _all_rows(db: Database, customer_id: str | None = None) -> list[LedgerEvent]:
    async with db.sessions() as session:
        query = select(LedgerEvent).order_by(LedgerEvent.id)
        if customer_id is not None:
            query = query.where(LedgerEvent.customer_id == customer_id)
        return list(await session.scalars(query))


async def _sign_up(http: httpx.AsyncClient) -> str:
    created = ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("audit")},
            headers=auth(),
        ),
        201,
    )
    return str(created["id"])


async def _emails_sent(db: Database, customer_id: str, count: int) -> None:
    async def probe() -> list[str]:
        async with db.sessions() as session:
            rows = await session.scalars(
                select(EmailOutbox.status).where(EmailOutbox.customer_id == customer_id)
            )
            return list(rows)

    await eventually(probe, lambda s: len(s) >= count and all(x == "sent" for x in s))


@pytest.fixture
async def lifecycle(
    own_database: Database,
    dev_server_env: WorkflowEnvironment,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[Lifecycle]:
    """Sign-up, an admin trial extension, conversion with a card, a renewal whose events
    come in as webhooks; and a second customer who only signed up."""
    db = own_database
    settings = make_settings(database_url=db.url, task_queue=task_queue, stripe_api_key=None)
    worker = make_worker(
        dev_server_env.client, task_queue=task_queue, sessions=db.sessions, config=engine_config
    )
    async with worker, api_client(settings, dev_server_env.client) as http:
        cid = await _sign_up(http)
        await _emails_sent(db, cid, 1)
        ok(
            await http.post(
                f"/v1/admin/customers/{cid}/trial-extension",
                json={"days": 3, "reason": REASON},
                headers=auth(ADMIN_KEY),
            )
        )
        converted = ok(
            await http.post(
                f"/v1/customers/{cid}/subscription",
                json={"plan": "pro", "interval": "month", "payment_method": "pm_card_visa"},
                headers=auth(),
            )
        )
        assert converted["status"] == "active"
        advanced = ok(
            await http.post(
                "/v1/admin/test-clock/advance",
                json={"customer_id": cid},
                headers=auth(ADMIN_KEY),
            )
        )
        assert "invoice.paid" in advanced["events"]
        other = await _sign_up(http)
        await _emails_sent(db, other, 1)
        # The renewal reached the workflow (its row comes from the workflow, last).
        await eventually(
            lambda: _all_rows(db, cid),
            lambda rows: "subscription_renewed" in [r.kind for r in rows],
        )
        await _emails_sent(db, cid, 3)
        yield Lifecycle(db=db, http=http, customer_id=cid, other_id=other)


async def test_ledger_records_every_kind_of_billing_event(lifecycle: Lifecycle) -> None:
    rows = await _all_rows(lifecycle.db, lifecycle.customer_id)
    kinds = [r.kind for r in rows]
    for kind in (
        "trial_started",  # transitions
        "trial_extended",  # admin actions
        "trial_converted",
        "subscription_renewed",
        "email_sent",  # emails
        "invoice_paid",  # charges
        "webhook_received",  # webhooks
    ):
        assert kind in kinds, (kind, kinds)
    assert kinds.count("invoice_paid") == 2, "the first invoice and the renewal"
    templates = sorted(r.data["template"] for r in rows if r.kind == "email_sent")
    assert templates == ["trial_converted", "trial_extended", "welcome"]
    assert all("to" not in r.data and "email" not in r.data for r in rows), "no addresses"

    extended = next(r for r in rows if r.kind == "trial_extended")
    assert extended.actor == ADMIN_ACTOR
    assert extended.data["reason"] == REASON
    converted = next(r for r in rows if r.kind == "trial_converted")
    assert (converted.from_status, converted.to_status, converted.plan) == (
        "trialing",
        "active",
        "pro",
    )
    assert converted.mrr_delta_cents == 9900
    webhooks = [r for r in rows if r.kind == "webhook_received"]
    assert {r.actor for r in webhooks} == {"simulator"}
    assert "invoice.paid" in {r.data["type"] for r in webhooks}


async def test_chain_verifies_then_a_row_altered_by_hand_is_reported(
    lifecycle: Lifecycle,
) -> None:
    db = lifecycle.db
    rows = await _all_rows(db)
    assert len(rows) >= 12
    async with db.sessions() as session:
        report = await verify_chain(session)
    assert report.broken is None
    assert report.rows == len(rows)

    verified = await lifecycle_cli(db.url, "audit", "verify")
    assert verified.code == 0, verified
    assert f"ok: {len(rows)} rows, chain intact" in verified.stdout

    # Someone with the table owner's rights disables the guard and edits a row's content.
    victim = rows[len(rows) // 2]
    original = dict(victim.data)
    await _as_owner(
        db,
        "UPDATE ledger_events SET data = data || CAST(:patch AS jsonb) WHERE id = :id",
        {"patch": json.dumps({"amount_paid_cents": 1}), "id": victim.id},
    )
    async with db.sessions() as session:
        report = await verify_chain(session)
    assert report.broken is not None
    assert (report.broken.id, report.broken.event_key) == (victim.id, victim.event_key)
    assert report.broken.problem == "content does not match its hash"

    broken = await lifecycle_cli(db.url, "audit", "verify")
    assert broken.code == 1, broken
    assert f"BROKEN at row {victim.id} ({victim.event_key})" in broken.stdout
    assert "content does not match its hash" in broken.stdout

    # Put back exactly what was there: the chain is whole again (content, not a flag).
    await _as_owner(
        db,
        "UPDATE ledger_events SET data = CAST(:data AS jsonb) WHERE id = :id",
        {"data": json.dumps(original), "id": victim.id},
    )
    assert (await lifecycle_cli(db.url, "audit", "verify")).code == 0

    # A row removed from the middle: the next one no longer links to its predecessor.
    await _as_owner(db, "DELETE FROM ledger_events WHERE id = :id", {"id": victim.id})
    after = next(r for r in rows if r.id > victim.id)
    async with db.sessions() as session:
        report = await verify_chain(session)
    assert report.broken is not None
    assert report.broken.id == after.id
    assert report.broken.problem == "prev_hash does not match the row before"
    gone = await lifecycle_cli(db.url, "audit", "verify")
    assert gone.code == 1
    assert f"BROKEN at row {after.id}" in gone.stdout


async def _as_owner(db: Database, statement: str, params: dict[str, Any]) -> None:
    """What only the table owner can do: switch the append-only guard off around an edit."""
    async with db.sessions.begin() as session:
        await session.execute(
            text("ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only")
        )
        await session.execute(text(statement), params)
        await session.execute(
            text("ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_append_only")
        )


async def test_tampering_with_recorded_at_is_detected(lifecycle: Lifecycle) -> None:
    db = lifecycle.db
    rows = await _all_rows(db)
    victim = rows[len(rows) // 2]
    await _as_owner(
        db,
        "UPDATE ledger_events SET recorded_at = recorded_at - interval '400 days' WHERE id = :id",
        {"id": victim.id},
    )
    async with db.sessions() as session:
        report = await verify_chain(session)
    assert report.broken is not None
    assert report.broken.id == victim.id


async def test_the_application_cannot_update_or_delete_ledger_rows(lifecycle: Lifecycle) -> None:
    """The guard is in PostgreSQL, so it holds for the app's own connection and any code path."""
    db = lifecycle.db
    rows = await _all_rows(db)
    target = rows[3]
    for statement in (
        "UPDATE ledger_events SET actor = 'someone else' WHERE id = :id",
        "UPDATE ledger_events SET recorded_at = now() WHERE id = :id",
        "DELETE FROM ledger_events WHERE id = :id",
        "TRUNCATE ledger_events",
    ):
        with pytest.raises(DBAPIError) as caught:
            async with db.sessions.begin() as session:
                await session.execute(text(statement), {"id": target.id})
        assert "append-only" in str(caught.value), statement

    # Through the ORM, as application code would.
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.sessions.begin() as session:
            row = await session.get(LedgerEvent, target.id)
            assert row is not None
            row.data = {"rewritten": True}
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.sessions.begin() as session:
            row = await session.get(LedgerEvent, target.id)
            assert row is not None
            await session.delete(row)

    after = await _all_rows(db)
    assert [(r.id, r.hash, r.actor, r.data) for r in after] == [
        (r.id, r.hash, r.actor, r.data) for r in rows
    ]
    async with db.sessions() as session:
        assert (await verify_chain(session)).broken is None


async def test_audit_endpoint_filters_pages_and_links_rows(lifecycle: Lifecycle) -> None:
    http, db, cid = lifecycle.http, lifecycle.db, lifecycle.customer_id
    everything = await _all_rows(db)

    # The whole chain, four rows a page: no gaps, no duplicates, each row links to the last.
    pages: list[list[Json]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor is not None:
            params["cursor"] = cursor
        page = ok(await http.get("/v1/admin/audit", params=params, headers=auth(ADMIN_KEY)))
        pages.append(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert all(len(p) == 4 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 4
    served = [row for page in pages for row in page]
    assert [r["id"] for r in served] == [r.id for r in everything]
    assert served[0]["prev_hash"] == GENESIS_HASH
    for before, row in itertools.pairwise(served):
        assert row["prev_hash"] == before["hash"], row
    assert [r["hash"] for r in served] == [r.hash for r in everything]

    # One customer's rows: theirs only, all of them, in chain order.
    mine = ok(
        await http.get(
            "/v1/admin/audit", params={"customer_id": cid, "limit": 1000}, headers=auth(ADMIN_KEY)
        )
    )
    assert mine["next_cursor"] is None
    assert [r["id"] for r in mine["data"]] == [r.id for r in everything if r.customer_id == cid]
    assert {r["customer_id"] for r in mine["data"]} == {cid}
    extended = next(r for r in mine["data"] if r["kind"] == "trial_extended")
    assert (extended["actor"], extended["data"]["reason"]) == (ADMIN_ACTOR, REASON)

    # Since a moment in the middle, and paged with the customer filter.
    pivot = sorted(r.occurred_at for r in everything if r.customer_id == cid)[5]
    expected = [r.id for r in everything if r.customer_id == cid and r.occurred_at >= pivot]
    assert 0 < len(expected) < len(mine["data"])
    ids: list[int] = []
    cursor = None
    while True:
        params = {"customer_id": cid, "since": pivot.isoformat(), "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = ok(await http.get("/v1/admin/audit", params=params, headers=auth(ADMIN_KEY)))
        assert all(datetime.fromisoformat(r["occurred_at"]) >= pivot for r in page["data"])
        ids += [r["id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == expected

    # The other customer's rows are not in the first one's, and the other way round.
    theirs = ok(
        await http.get(
            "/v1/admin/audit", params={"customer_id": lifecycle.other_id}, headers=auth(ADMIN_KEY)
        )
    )
    assert {r["kind"] for r in theirs["data"]} == {"trial_started", "email_sent"}

    # A future `since` is an empty page; bad input names its field; app keys are refused.
    # (Webhook rows carry the provider's event time: the renewal is a month ahead.)
    future = (max(r.occurred_at for r in everything) + timedelta(days=1)).isoformat()
    empty = ok(await http.get("/v1/admin/audit", params={"since": future}, headers=auth(ADMIN_KEY)))
    assert empty == {"data": [], "next_cursor": None}
    for params, field in [
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "-1"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ]:
        problem = assert_problem(
            await http.get("/v1/admin/audit", params=params, headers=auth(ADMIN_KEY)), 422
        )
        assert field in fields(problem), problem
    assert_problem(await http.get("/v1/admin/audit", headers=auth(APP_KEY)), 403, "forbidden")


async def test_audit_export_writes_csv(lifecycle: Lifecycle, tmp_path: Path) -> None:
    db, cid = lifecycle.db, lifecycle.customer_id
    everything = await _all_rows(db)

    target = tmp_path / "ledger.csv"
    result = await lifecycle_cli(db.url, "audit", "export", "--output", str(target))
    assert result.code == 0, result
    assert f"{len(everything)} rows written" in result.stderr
    with target.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == list(CSV_COLUMNS)
    assert len(lines) == 1 + len(everything)
    exported = [dict(zip(CSV_COLUMNS, line, strict=True)) for line in lines[1:]]
    for row, line in zip(everything, exported, strict=True):
        assert int(line["id"]) == row.id
        assert (line["kind"], line["actor"], line["event_key"]) == (
            row.kind,
            row.actor,
            row.event_key,
        )
        assert (line["prev_hash"], line["hash"]) == (row.prev_hash, row.hash)
        assert json.loads(line["data"]) == row.data
        assert datetime.fromisoformat(line["occurred_at"]) == row.occurred_at

    mine = tmp_path / "mine.csv"
    result = await lifecycle_cli(
        db.url, "audit", "export", "--output", str(mine), "--customer-id", cid
    )
    assert result.code == 0, result
    with mine.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert len(lines) == 1 + len([r for r in everything if r.customer_id == cid])
    assert {line[CSV_COLUMNS.index("customer_id")] for line in lines[1:]} == {cid}

    async with db.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(LedgerEvent))
    assert total == len(everything), "exporting changed nothing"


async def test_concurrent_appends_keep_one_unbroken_chain(own_database: Database) -> None:
    """API requests and activities append at the same time: the chain stays one line, and a
    repeated event key is recorded once."""
    db = own_database
    start = datetime.now(UTC)

    async def append(n: int, key: str) -> bool:
        async with db.sessions.begin() as session:
            # Something else happens in the same transaction first, as in the activities.
            await session.execute(text("SELECT pg_sleep(0.01)"))
            added = await append_ledger(
                session,
                {
                    "event_key": key,
                    "customer_id": None,
                    "kind": "webhook_received",
                    "actor": "test",
                    "from_status": None,
                    "to_status": None,
                    "plan": None,
                    "interval": None,
                    "mrr_delta_cents": n,
                    "data": {"n": n, "nested": {"list": [1, 2.5, "x"], "none": None}},
                    "occurred_at": start + timedelta(microseconds=n),
                    "recorded_at": datetime.now(UTC),
                },
            )
            # Hold the transaction open a little after the append.
            await session.execute(text("SELECT pg_sleep(0.02)"))
            return added

    keys = [f"concurrent:{n}" for n in range(30)] + ["concurrent:0", "concurrent:1"]
    results = await asyncio.gather(*(append(n, key) for n, key in enumerate(keys)))
    assert results.count(True) == 30
    rows = await _all_rows(db)
    assert len(rows) == 30
    assert len({r.event_key for r in rows}) == 30
    async with db.sessions() as session:
        report = await verify_chain(session)
    assert report.broken is None, report
    assert report.rows == 30
