"""Request and response bodies of sign-up and the customer view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, EmailStr, Field

from api.schemas import RequestBody


class CustomerCreate(RequestBody):
    external_id: str = Field(min_length=1, max_length=255, description="Your id for the customer")
    email: EmailStr
    name: str | None = Field(default=None, max_length=255)


class CustomerView(BaseModel):
    id: str
    external_id: str
    email: str | None
    name: str | None
    status: str
    plan: str
    interval: str | None
    trial_ends_at: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    scheduled_change: dict[str, Any] | None
    created_at: datetime
