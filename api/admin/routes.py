"""HTTP routes of the admin endpoints (scope ``admin``): what the engine sent and recorded
for a customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.admin import service
from api.admin.schemas import (
    AuditPage,
    CustomerPage,
    EmailView,
    ErasureView,
    LedgerEventView,
    TrialExtensionRequest,
)
from api.approvals.schemas import APPROVAL_PENDING
from api.approvals.service import erasure_gate, trial_extension_gate
from api.auth import Principal, require_admin
from api.context import AppContext, get_context
from api.customers.schemas import CustomerView
from api.errors import COMMAND_PROBLEMS
from api.insights.schemas import Risk
from api.schemas import ListEnvelope
from domain.lifecycle import Status

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.get("/customers/{customer_id}/emails", response_model=ListEnvelope[EmailView])
async def customer_emails(
    customer_id: str, context: AppContext = Depends(get_context)
) -> ListEnvelope[EmailView]:
    return ListEnvelope(data=await service.customer_emails(context, customer_id))


@router.get("/customers/{customer_id}/events", response_model=ListEnvelope[LedgerEventView])
async def customer_events(
    customer_id: str,
    audit: bool = Query(
        default=True,
        description="Include audit rows (emails sent, webhooks received, invoices paid)",
    ),
    context: AppContext = Depends(get_context),
) -> ListEnvelope[LedgerEventView]:
    """The customer's ledger, oldest first."""
    return ListEnvelope(data=await service.customer_events(context, customer_id, audit=audit))


@router.get("/customers", response_model=CustomerPage)
async def search_customers(
    status: Status | None = Query(default=None),
    plan: str | None = Query(default=None, max_length=64),
    trial_ends_before: datetime | None = Query(default=None),
    churn_risk: Risk | None = Query(
        default=None, description="The latest churn score's band (paying customers only)"
    ),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=500),
    context: AppContext = Depends(get_context),
) -> CustomerPage:
    """Customers, oldest sign-up first, filtered; follow ``next_cursor`` for more."""
    return await service.search_customers(
        context,
        status=status,
        plan=plan,
        trial_ends_before=trial_ends_before,
        churn_risk=churn_risk,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/customers/{customer_id}/trial-extension",
    response_model=CustomerView,
    responses={**COMMAND_PROBLEMS, **APPROVAL_PENDING},
)
async def extend_trial(
    customer_id: str,
    body: TrialExtensionRequest,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> CustomerView | JSONResponse:
    """Move the trial end by ``days`` (also reopening an expired trial); 409 otherwise.
    More days than ``[approvals] trial_extensions_beyond_days`` answers 202: an approval
    request."""
    pending = await trial_extension_gate(context, principal, customer_id, body.days, body.reason)
    if pending is not None:
        return pending
    return await service.extend_trial(context, customer_id, body, principal.actor)


@router.get("/audit", response_model=AuditPage)
async def read_audit(
    customer_id: str | None = Query(default=None, max_length=36),
    since: datetime | None = Query(default=None, description="Rows at or after this time"),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: int | None = Query(default=None, ge=0, description="next_cursor of the last page"),
    context: AppContext = Depends(get_context),
) -> AuditPage:
    """The hash-chained ledger in chain order (each row carries its and its parent's hash)."""
    return await service.read_audit(
        context, customer_id=customer_id, since=since, limit=limit, cursor=cursor
    )


@router.get("/customers/{customer_id}/export")
async def export_customer(
    customer_id: str, context: AppContext = Depends(get_context)
) -> dict[str, Any]:
    """Everything the engine holds about the customer, as one JSON document: profile,
    subscription, invoices, usage, emails, notifications, webhooks received and the ledger."""
    return await service.export_customer(context, customer_id)


@router.delete(
    "/customers/{customer_id}",
    response_model=ErasureView,
    responses={**COMMAND_PROBLEMS, **APPROVAL_PENDING},
)
async def erase_customer(
    customer_id: str,
    reason: str | None = Query(
        default=None,
        min_length=1,
        max_length=500,
        description="Why: required when [approvals] erasure makes it wait for a second admin",
    ),
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> ErasureView | JSONResponse:
    """GDPR erasure: cancels any subscription, deletes the provider customer's personal
    data, removes name and email everywhere in the app database (the financial ledger
    stays, under the customer's pseudonymous id), and ends the customer's workflow. With
    ``[approvals] erasure`` it answers 202: an approval request."""
    pending = await erasure_gate(context, principal, customer_id, reason)
    if pending is not None:
        return pending
    return await service.erase_customer(context, customer_id, principal.actor)
