"""Reading in-app notifications and marking them read."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from api.context import AppContext
from api.errors import not_found
from api.notifications.schemas import NotificationView
from db.models import Customer, Notification


def _view(row: Notification) -> NotificationView:
    return NotificationView(
        id=row.id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        cta_label=row.cta_label,
        cta_url=row.cta_url,
        data=row.data,
        created_at=row.created_at,
        read_at=row.read_at,
    )


async def list_notifications(
    context: AppContext, customer_id: str, *, unread: bool, limit: int
) -> list[NotificationView]:
    async with context.sessions() as session:
        if await session.get(Customer, customer_id) is None:
            raise not_found("customer", customer_id)
        query = select(Notification).where(Notification.customer_id == customer_id)
        if unread:
            query = query.where(Notification.read_at.is_(None))
        rows = await session.scalars(
            query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
        )
        return [_view(row) for row in rows]


async def mark_read(
    context: AppContext, customer_id: str, notification_id: int
) -> NotificationView:
    """Idempotent: reading twice keeps the first read time."""
    async with context.sessions.begin() as session:
        await session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.customer_id == customer_id,
                Notification.read_at.is_(None),
            )
            .values(read_at=datetime.now(UTC))
        )
        row = await session.scalar(
            select(Notification).where(
                Notification.id == notification_id, Notification.customer_id == customer_id
            )
        )
        if row is None:
            raise not_found("notification", str(notification_id))
        return _view(row)
