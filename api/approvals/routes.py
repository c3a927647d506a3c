"""HTTP routes of maker-checker (scope ``admin``): the approval requests the gated admin
endpoints stored (answered 202 there), and a second admin key's decision."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from api.approvals import service
from api.approvals.schemas import ApprovalView, DecisionRequest
from api.auth import Principal, require_admin
from api.context import AppContext, get_context
from api.errors import COMMAND_PROBLEMS, problem_responses
from api.schemas import ListEnvelope
from domain.approvals import ApprovalStatus

router = APIRouter(
    prefix="/v1/admin/approvals", tags=["approvals"], dependencies=[Depends(require_admin)]
)


@router.get("", response_model=ListEnvelope[ApprovalView])
async def list_approvals(
    status: ApprovalStatus | None = Query(default=None),
    limit: int = Query(default=100, ge=1, le=500),
    context: AppContext = Depends(get_context),
) -> ListEnvelope[ApprovalView]:
    """Approval requests, newest first (``status=pending``: those waiting for a decision)."""
    return ListEnvelope(data=await service.listing(context, status, limit))


@router.get("/{request_id}", response_model=ApprovalView, responses=problem_responses(404))
async def get_approval(request_id: str, context: AppContext = Depends(get_context)) -> ApprovalView:
    return await service.one(context, request_id)


@router.post(
    "/{request_id}/approve",
    response_model=ApprovalView,
    responses={**COMMAND_PROBLEMS, **problem_responses(403, 404, 409)},
)
async def approve(
    request_id: str,
    body: DecisionRequest | None = None,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> ApprovalView:
    """Approve with a key other than the requester's (403 otherwise) and run the action now,
    once: the answer's ``status`` is ``executed`` (``result``: what the action answered) or
    ``failed`` (``error``). A request already decided is a 409."""
    return await service.approve(context, principal, request_id, body.note if body else None)


@router.post(
    "/{request_id}/reject",
    response_model=ApprovalView,
    responses=problem_responses(403, 404, 409),
)
async def reject(
    request_id: str,
    body: DecisionRequest | None = None,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> ApprovalView:
    """Reject with a key other than the requester's: the action never runs."""
    return await service.reject(context, principal, request_id, body.note if body else None)
