"""What operators are alerted on (``db.monitoring``), counted exactly on a database of the
test's own: dunning past its schedule (and not dunning within it), webhooks undelivered
past the backlog delay (and not fresh or delivered ones)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from core.config import EngineConfig
from db.models import Customer, WebhookEvent
from db.monitoring import operations_snapshot
from domain.lifecycle import Status
from tests.factories.customers import insert_customer
from tests.factories.databases import Database

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
WINDOW = timedelta(days=8)


async def _past_due(database: Database, config: EngineConfig, since: datetime) -> None:
    customer = await insert_customer(database.sessions, policy=config.policy)
    async with database.sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer.id)
            .values(status=Status.PAST_DUE.value, current_period_start=since)
        )


async def _webhook(database: Database, status: str, received_at: datetime) -> None:
    async with database.sessions.begin() as session:
        session.add(
            WebhookEvent(
                id=f"evt_{uuid.uuid4().hex}",
                provider="stripe",
                type="invoice.paid",
                created=received_at,
                payload={},
                status=status,
                received_at=received_at,
            )
        )


async def test_overdue_dunning_and_the_webhook_backlog_are_counted_exactly(
    own_database: Database, engine_config: EngineConfig
) -> None:
    async with own_database.sessions() as session:
        empty = await operations_snapshot(session, now=NOW, dunning_overdue_after=WINDOW)
    assert (empty.dunning_overdue, empty.webhook_backlog, empty.webhook_oldest_seconds) == (
        0,
        0,
        0.0,
    )

    await _past_due(own_database, engine_config, NOW - WINDOW - timedelta(hours=1))
    await _past_due(own_database, engine_config, NOW - timedelta(days=2))  # within its schedule
    await _webhook(own_database, "received", NOW - timedelta(minutes=30))
    await _webhook(own_database, "received", NOW - timedelta(minutes=1))  # still in flight
    await _webhook(own_database, "delivered", NOW - timedelta(days=1))
    await _webhook(own_database, "ignored", NOW - timedelta(days=1))

    async with own_database.sessions() as session:
        snapshot = await operations_snapshot(session, now=NOW, dunning_overdue_after=WINDOW)
    assert snapshot.by_status[Status.PAST_DUE.value] == 2
    assert snapshot.dunning_overdue == 1
    assert snapshot.webhook_backlog == 1
    assert snapshot.webhook_oldest_seconds == timedelta(minutes=30).total_seconds()
