"""Data retention: raw usage events and email bodies past the configured retention are
purged by a Temporal Schedule; counters, daily totals, invoices and the ledger stay.

In a database of its own: the purge deletes across all customers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleOverlapPolicy,
)
from temporalio.testing import WorkflowEnvironment

from activities.privacy import PrivacyActivities, PurgeInput, PurgeResult
from core.config import EngineConfig, _Retention
from db.engine import SessionFactory, create_engine, session_factory
from db.ledger import append_ledger, verify_chain
from db.migrate import migrate
from db.models import (
    Customer,
    EmailOutbox,
    Invoice,
    LedgerEvent,
    SecurityEvent,
    UsageCounter,
    UsageDaily,
    UsageEvent,
)
from db.security_events import append_security_event
from domain.terms import Terms
from services.temporal_setup import ensure_retention_schedule
from tests.factories.customers import unique_email
from tests.factories.databases import Database
from tests.factories.schedules import clean_schedule, trigger_once
from tests.factories.workers import make_worker
from workflows.retention import RETENTION_SCHEDULE_ID

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Seeded:
    customer_id: str
    old_events: list[int]
    new_events: list[int]
    old_emails: list[int]
    new_emails: list[int]


async def _seed(sessions: SessionFactory, *, now: datetime) -> Seeded:
    """One customer with usage and emails on both sides of the default retention (usage
    events 90 days, email bodies 30 days), plus aggregates, an invoice and ledger rows that
    are older than any of it."""
    cid = str(uuid.uuid4())
    ancient = now - timedelta(days=400)
    async with sessions.begin() as session:
        session.add(
            Customer(
                id=cid,
                external_id=f"ext-{uuid.uuid4().hex}",
                email=unique_email("retention"),
                name="Retention Test",
                status="active",
                plan="starter",
                interval="month",
                trial_started_at=ancient,
                trial_ends_at=ancient + timedelta(days=14),
                cancel_at_period_end=False,
                state_version=1,
                created_at=ancient,
                updated_at=ancient,
            )
        )
        await session.flush()
        events = []
        for n, age in enumerate([400, 120, 91, 89, 10, 0]):
            at = now - timedelta(days=age)
            event = UsageEvent(
                customer_id=cid,
                metric="messages",
                quantity=1,
                idempotency_key=f"evt-{n}",
                occurred_at=at,
                period_start=at.replace(day=1),
                recorded_at=at,
            )
            session.add(event)
            events.append((age, event))
        emails = []
        for n, age in enumerate([365, 31, 29, 1]):
            email = EmailOutbox(
                idempotency_key=f"{cid}:mail-{n}",
                customer_id=cid,
                template="welcome",
                to_email="someone@example.com",
                subject=f"subject {n}",
                body=f"body {n}",
                data={"n": n},
                status="sent",
                provider="log",
                attempts=1,
                created_at=now - timedelta(days=age),
                sent_at=now - timedelta(days=age),
            )
            session.add(email)
            emails.append((age, email))
        session.add(
            UsageCounter(
                customer_id=cid,
                metric="messages",
                period_start=ancient,
                period_end=ancient + timedelta(days=30),
                used=1234,
                updated_at=ancient,
            )
        )
        session.add(
            UsageDaily(customer_id=cid, metric="messages", day=date(2020, 1, 1), quantity=77)
        )
        session.add(
            Invoice(
                id=f"in_{uuid.uuid4().hex[:16]}",
                customer_id=cid,
                subscription_id="sub_x",
                number="SIM-0001",
                status="paid",
                currency="usd",
                subtotal_cents=2900,
                total_cents=2900,
                amount_due_cents=2900,
                amount_paid_cents=2900,
                amount_remaining_cents=0,
                billing_reason="subscription_create",
                attempt_count=1,
                lines=[],
                created_at=ancient,
                updated_at=ancient,
            )
        )
        await append_ledger(
            session,
            {
                "event_key": f"{cid}:old",
                "customer_id": cid,
                "kind": "trial_converted",
                "actor": "system",
                "from_status": "trialing",
                "to_status": "active",
                "plan": "starter",
                "interval": "month",
                "mrr_delta_cents": 2900,
                "data": {},
                "occurred_at": ancient,
                "recorded_at": ancient,
            },
        )
        await session.flush()
        return Seeded(
            customer_id=cid,
            old_events=[e.id for age, e in events if age > 90],
            new_events=[e.id for age, e in events if age <= 90],
            old_emails=[e.id for age, e in emails if age > 30],
            new_emails=[e.id for age, e in emails if age <= 30],
        )


async def _assert_purged(sessions: SessionFactory, seeded: Seeded) -> None:
    cid = seeded.customer_id
    async with sessions() as session:
        events = set(
            await session.scalars(select(UsageEvent.id).where(UsageEvent.customer_id == cid))
        )
        emails = {
            e.id: e
            for e in await session.scalars(
                select(EmailOutbox).where(EmailOutbox.customer_id == cid)
            )
        }
        counters = list(
            await session.scalars(select(UsageCounter).where(UsageCounter.customer_id == cid))
        )
        daily = list(await session.scalars(select(UsageDaily).where(UsageDaily.customer_id == cid)))
        invoices = await session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.customer_id == cid)
        )
        ledger_rows = await session.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.customer_id == cid)
        )
        chain = await verify_chain(session)
    assert events == set(seeded.new_events)
    assert set(emails) == set(seeded.old_emails + seeded.new_emails), "email rows stay"
    for email_id in seeded.old_emails:
        assert (emails[email_id].subject, emails[email_id].body) == (None, None)
        # What was sent, when and how stays (the record of the email, not its text).
        assert emails[email_id].template == "welcome"
        assert emails[email_id].status == "sent"
    for email_id in seeded.new_emails:
        assert emails[email_id].body is not None
    assert [(c.used, c.metric) for c in counters] == [(1234, "messages")]
    assert [(d.quantity, d.day) for d in daily] == [(77, date(2020, 1, 1))]
    assert invoices == 1
    assert ledger_rows == 1
    assert chain.broken is None


async def test_purge_drops_raw_events_and_bodies_past_retention_only(
    own_database: Database, engine_config: EngineConfig
) -> None:
    sessions = own_database.sessions
    seeded = await _seed(sessions, now=NOW)
    retention = engine_config.policy.retention
    assert (retention.usage_events, retention.email_bodies) == (
        timedelta(days=90),
        timedelta(days=30),
    )
    privacy = PrivacyActivities(sessions, clock=lambda: NOW)
    request = PurgeInput(
        usage_events_older_than=retention.usage_events,
        email_bodies_older_than=retention.email_bodies,
    )
    result = await privacy.purge_expired_data(request)
    assert result == PurgeResult(usage_events=3, email_bodies=2)
    await _assert_purged(sessions, seeded)

    # Running it again finds nothing more to do.
    assert await privacy.purge_expired_data(request) == PurgeResult(0, 0)
    await _assert_purged(sessions, seeded)


async def test_the_security_log_ages_out_as_configured_never_younger_than_30_days(
    own_database: Database, engine_config: EngineConfig
) -> None:
    sessions = own_database.sessions
    async with sessions.begin() as session:
        for age in (400, 181, 179, 31, 1):
            await append_security_event(
                session,
                kind="auth_failed",
                occurred_at=NOW - timedelta(days=age),
                client_ip="203.0.113.7",
                detail={"age": age},
            )
    request = PurgeInput(
        usage_events_older_than=timedelta(days=90), email_bodies_older_than=timedelta(days=30)
    )

    async def ages() -> list[int]:
        async with sessions() as session:
            rows = await session.scalars(select(SecurityEvent.detail).order_by(SecurityEvent.id))
            return [row["age"] for row in rows]

    # The default (180 days) when the worker has no terms to read.
    result = await PrivacyActivities(sessions, clock=lambda: NOW).purge_expired_data(request)
    assert result.security_events == 2 and await ages() == [179, 31, 1]

    async def thirty_days() -> Terms:
        policy = engine_config.policy
        retention = replace(policy.retention, security_events=timedelta(days=30))
        return Terms(policy=replace(policy, retention=retention), catalog=engine_config.catalog)

    privacy = PrivacyActivities(sessions, clock=lambda: NOW, load_terms=thirty_days)
    assert (await privacy.purge_expired_data(request)).security_events == 2
    assert await ages() == [1]

    # Asked for less than the floor (a clock far ahead, a doctored config), the database
    # refuses and deletes nothing.
    ahead = PrivacyActivities(
        sessions, clock=lambda: NOW + timedelta(days=29), load_terms=thirty_days
    )
    with pytest.raises(DBAPIError, match="keeps at least 30 days"):
        await ahead.purge_expired_data(request)
    assert await ages() == [1]


def test_the_configured_security_log_retention_has_a_floor() -> None:
    with pytest.raises(ValidationError, match="at least 30 days"):
        _Retention(security_events="7d")
    assert _Retention(security_events="365d").security_events == "365d"


@pytest.fixture
async def schedule_client(dev_server_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    async with clean_schedule(dev_server_env.client, RETENTION_SCHEDULE_ID) as client:
        yield client


async def _description_task_queue(handle: ScheduleHandle) -> str:
    description = await handle.describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    return str(action.task_queue)


async def test_retention_schedule_is_created_then_updated_in_place(
    schedule_client: Client, engine_config: EngineConfig, task_queue: str
) -> None:
    client = schedule_client
    every = engine_config.policy.retention.every
    assert every == timedelta(days=1)

    assert await ensure_retention_schedule(client, task_queue="elsewhere", every=every) == (
        "created"
    )
    handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    description = await handle.describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "RetentionPurge"
    assert action.task_queue == "elsewhere"
    assert [i.every for i in description.schedule.spec.intervals] == [every]
    assert description.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert not description.schedule.state.paused

    # Running it again (every deploy does) updates it in place instead of failing.
    assert (
        await ensure_retention_schedule(client, task_queue=task_queue, every=timedelta(hours=6))
        == "updated"
    )
    description = await handle.describe()
    assert await _description_task_queue(handle) == task_queue
    assert [i.every for i in description.schedule.spec.intervals] == [timedelta(hours=6)]
    assert await ensure_retention_schedule(client, task_queue=task_queue, every=every) == "updated"
    description = await handle.describe()
    assert [i.every for i in description.schedule.spec.intervals] == [every]
    assert description.info.num_actions == 0, "creating or updating runs nothing"


async def test_triggered_schedule_runs_the_purge(
    schedule_client: Client,
    own_database: Database,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    client = schedule_client
    every = engine_config.policy.retention.every
    await ensure_retention_schedule(client, task_queue=task_queue, every=every)

    sessions = own_database.sessions
    seeded = await _seed(sessions, now=datetime.now(UTC))
    worker = make_worker(client, task_queue=task_queue, sessions=sessions, config=engine_config)
    async with worker:
        result = await trigger_once(client, RETENTION_SCHEDULE_ID, PurgeResult, timeout=30)
    assert result == PurgeResult(usage_events=3, email_bodies=2)
    await _assert_purged(sessions, seeded)


async def test_the_security_log_ages_out_on_sqlite_too(tmp_path: Path) -> None:
    """Dev mode (SQLite) has no roles and no function: a plain delete, same rule."""
    url = f"sqlite+aiosqlite:///{tmp_path}/lifecycle.db"
    await migrate(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            for age in (200, 1):
                await append_security_event(
                    session, kind="auth_failed", occurred_at=NOW - timedelta(days=age)
                )
        request = PurgeInput(
            usage_events_older_than=timedelta(days=90), email_bodies_older_than=timedelta(days=30)
        )
        result = await PrivacyActivities(sessions, clock=lambda: NOW).purge_expired_data(request)
        assert result.security_events == 1
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(SecurityEvent)) == 1
    finally:
        await engine.dispose()
