"""What operators are alerted on, read from the engine's tables at scrape time: customers by
status, dunning that has outlived its schedule, webhooks accepted but not delivered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Customer, WebhookEvent
from domain.lifecycle import Status

# A webhook the inbox accepted is normally signalled to its workflow within the request;
# one still "received" after this long waits for the workflow service (or was lost).
WEBHOOK_BACKLOG_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class OperationsSnapshot:
    by_status: dict[str, int] = field(default_factory=dict)
    needing_attention: int = 0
    # past_due for longer than the dunning schedule plus a margin: the last retry and the
    # final action should have ended it (a workflow stuck, a worker down, a lost timer).
    dunning_overdue: int = 0
    webhook_backlog: int = 0
    # Age of the oldest undelivered webhook in seconds (0: none).
    webhook_oldest_seconds: float = 0.0


async def operations_snapshot(
    session: AsyncSession, *, now: datetime, dunning_overdue_after: timedelta
) -> OperationsSnapshot:
    rows = (
        await session.execute(
            select(
                Customer.status,
                func.count(),
                func.sum(case((Customer.needs_attention.is_(True), 1), else_=0)),
            ).group_by(Customer.status)
        )
    ).all()
    by_status = dict.fromkeys((s.value for s in Status), 0)
    by_status.update({status: count for status, count, _ in rows})
    # Dunning starts with the renewal that failed: the period the unpaid invoice opened.
    overdue = await session.scalar(
        select(func.count())
        .select_from(Customer)
        .where(
            Customer.status == Status.PAST_DUE.value,
            Customer.current_period_start < now - dunning_overdue_after,
        )
    )
    backlog, oldest = (
        await session.execute(
            select(func.count(), func.min(WebhookEvent.received_at)).where(
                WebhookEvent.status == "received",
                WebhookEvent.received_at < now - WEBHOOK_BACKLOG_AFTER,
            )
        )
    ).one()
    return OperationsSnapshot(
        by_status=by_status,
        needing_attention=sum(int(attention or 0) for _, _, attention in rows),
        dunning_overdue=int(overdue or 0),
        webhook_backlog=int(backlog or 0),
        webhook_oldest_seconds=(now - oldest).total_seconds() if oldest is not None else 0.0,
    )
