"""In-app notifications for the app to show: list, and mark read."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select, update

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.errors import not_found
from api.schemas import ListEnvelope, NotificationView
from db.models import Customer, Notification

router = APIRouter(prefix="/v1/customers/{customer_id}/notifications", tags=["notifications"])


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


@router.get("", response_model=ListEnvelope[NotificationView])
async def list_notifications(
    customer_id: str,
    unread: bool = Query(default=False, description="Only notifications not read yet"),
    limit: int = Query(default=50, ge=1, le=200),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> ListEnvelope[NotificationView]:
    async with context.sessions() as session:
        if await session.get(Customer, customer_id) is None:
            raise not_found("customer", customer_id)
        query = select(Notification).where(Notification.customer_id == customer_id)
        if unread:
            query = query.where(Notification.read_at.is_(None))
        rows = await session.scalars(
            query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
        )
        return ListEnvelope(data=[_view(row) for row in rows])


@router.post("/{notification_id}/read", response_model=NotificationView)
async def mark_read(
    customer_id: str,
    notification_id: int,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
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
