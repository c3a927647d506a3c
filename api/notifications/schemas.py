"""Response bodies of in-app notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class NotificationView(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    cta_label: str | None
    cta_url: str | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
