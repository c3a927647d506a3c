"""HTTP routes of in-app notifications for the app to show: list, and mark read."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.notifications import service
from api.notifications.schemas import NotificationView
from api.schemas import ListEnvelope

router = APIRouter(prefix="/v1/customers/{customer_id}/notifications", tags=["notifications"])


@router.get("", response_model=ListEnvelope[NotificationView])
async def list_notifications(
    customer_id: str,
    unread: bool = Query(default=False, description="Only notifications not read yet"),
    limit: int = Query(default=50, ge=1, le=200),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> ListEnvelope[NotificationView]:
    rows = await service.list_notifications(context, customer_id, unread=unread, limit=limit)
    return ListEnvelope(data=rows)


@router.post("/{notification_id}/read", response_model=NotificationView)
async def mark_read(
    customer_id: str,
    notification_id: int,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> NotificationView:
    """Idempotent: reading twice keeps the first read time."""
    return await service.mark_read(context, customer_id, notification_id)
