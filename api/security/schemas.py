"""Bodies of the security endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ReviewedKeyView(BaseModel):
    id: str = Field(description="The key's id (stored keys) or fingerprint (environment)")
    name: str
    scope: str
    source: str = Field(description="database (lifecycle keys create) or environment")
    created_by: str | None
    created_at: datetime | None
    last_used_at: datetime | None = Field(description="Recorded to the minute")
    age_days: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str = Field(description="active, expired or revoked")
    unused: bool = Field(description="Live, and not used for unused_days (or never)")
    flags: list[str]


class AccessReview(BaseModel):
    generated_at: datetime
    unused_days: int
    keys: list[ReviewedKeyView]


class RevokedKey(BaseModel):
    id: str
    scope: str
    revoked_at: datetime


class SecurityEventView(BaseModel):
    id: int
    occurred_at: datetime
    kind: str
    actor: str | None
    key_prefix: str | None
    client_ip: str | None
    detail: dict[str, Any]


class FreezeView(BaseModel):
    active: bool
    reason: str | None
    actor: str | None
    changed_at: datetime | None


class FreezeChange(BaseModel):
    active: bool = Field(description="true: stop money movements; false: let them run again")
    reason: str = Field(min_length=3, max_length=2000, description="Why (kept with the change)")
