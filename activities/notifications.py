"""In-app notifications: one row per dedupe key, so a retried activity raises it once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import activity

from db.engine import SessionFactory
from db.models import Notification
from db.writes import insert_ignoring_conflict
from domain.notifications import NotificationKind, render_notification


@dataclass(frozen=True)
class NotifyInput:
    customer_id: str
    kind: NotificationKind
    dedupe_key: str
    # Workflow time of the event the notification is about.
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


class NotificationActivities:
    def __init__(self, sessions: SessionFactory, *, app_url: str) -> None:
        self._sessions = sessions
        self._app_url = app_url.rstrip("/")

    @activity.defn(name="notify")
    async def notify(self, request: NotifyInput) -> bool:
        """Returns whether the notification was new."""
        rendered = render_notification(request.kind, request.data)
        async with self._sessions.begin() as session:
            return await insert_ignoring_conflict(
                session,
                Notification,
                {
                    "dedupe_key": request.dedupe_key,
                    "customer_id": request.customer_id,
                    "kind": str(request.kind),
                    "title": rendered.title,
                    "body": rendered.body,
                    "cta_label": rendered.cta_label,
                    "cta_url": _cta_url(self._app_url, rendered.cta_path),
                    "data": request.data,
                    "created_at": request.created_at,
                },
                on=["dedupe_key"],
            )


def _cta_url(app_url: str, path: str | None) -> str | None:
    """A path is the app's; an absolute URL (the provider's hosted invoice page) is kept."""
    if not path:
        return None
    return path if "://" in path else f"{app_url}{path}"
