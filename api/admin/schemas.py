"""Request and response bodies of the admin endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.customers.schemas import CustomerView
from api.schemas import RequestBody


class EmailView(BaseModel):
    id: int
    template: str
    to: str | None
    subject: str | None
    status: str
    data: dict[str, Any]
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class LedgerEventView(BaseModel):
    id: int
    kind: str
    actor: str
    from_status: str | None
    to_status: str | None
    plan: str | None
    interval: str | None
    mrr_delta_cents: int
    data: dict[str, Any]
    occurred_at: datetime


class TrialExtensionRequest(RequestBody):
    days: int = Field(ge=1, le=90, description="Days to add to the trial (1-90)")
    reason: str = Field(min_length=1, max_length=500)


class CustomerPage(BaseModel):
    data: list[CustomerView]
    # Pass as ?cursor= for the next page; null on the last page.
    next_cursor: str | None


class AuditRowView(BaseModel):
    id: int
    occurred_at: datetime
    recorded_at: datetime
    customer_id: str | None
    kind: str
    actor: str
    from_status: str | None
    to_status: str | None
    plan: str | None
    interval: str | None
    mrr_delta_cents: int
    data: dict[str, Any]
    event_key: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    data: list[AuditRowView]
    next_cursor: str | None


class ErasureView(BaseModel):
    customer_id: str
    erased: bool
    already_erased: bool
