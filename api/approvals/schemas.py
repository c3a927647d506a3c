"""Bodies of the approval endpoints (maker-checker)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas import RequestBody
from domain.approvals import Action, ApprovalStatus


class ApprovalView(BaseModel):
    id: str
    action: Action
    customer_id: str | None
    parameters: dict[str, Any] = Field(description="The parameters of the direct call")
    reason: str
    requested_by: str = Field(description="The requesting key's actor (admin:<key id>)")
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    result: dict[str, Any] | None = Field(description="What the action answered when it ran")
    error: str | None = Field(description="Why the approved action failed")
    created_at: datetime
    executed_at: datetime | None


class DecisionRequest(RequestBody):
    note: str | None = Field(default=None, min_length=1, max_length=500)


# The answer of a gated admin endpoint when [approvals] makes the action wait.
APPROVAL_PENDING: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ApprovalView,
        "description": "A second admin's approval is needed: the stored request "
        "(POST /v1/admin/approvals/{id}/approve runs it)",
    }
}
