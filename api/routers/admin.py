"""Admin endpoints (scope ``admin``): what the engine sent and recorded for a customer."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import and_, or_, select

from api.auth import Principal, require_admin
from api.context import AppContext, get_context
from api.errors import COMMAND_PROBLEMS, FieldError, Problem, not_found
from api.lifecycle_client import run_command
from api.routers.customers import customer_view
from api.schemas import (
    AuditPage,
    AuditRowView,
    CustomerPage,
    CustomerView,
    EmailView,
    ErasureView,
    LedgerEventView,
    ListEnvelope,
    TrialExtensionRequest,
)
from db.export import customer_export
from db.ledger import AUDIT_KINDS, ledger_query
from db.models import Customer, LedgerEvent
from db.queries import emails_of, ledger_of
from domain.erasure import is_erased
from domain.lifecycle import Status
from workflows.customer import CustomerWorkflow
from workflows.messages import EraseCustomer, ExtendTrial

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


async def _require_customer(context: AppContext, customer_id: str) -> None:
    async with context.sessions() as session:
        if await session.get(Customer, customer_id) is None:
            raise not_found("customer", customer_id)


@router.get("/customers/{customer_id}/emails", response_model=ListEnvelope[EmailView])
async def customer_emails(
    customer_id: str, context: AppContext = Depends(get_context)
) -> ListEnvelope[EmailView]:
    await _require_customer(context, customer_id)
    async with context.sessions() as session:
        rows = await emails_of(session, customer_id)
    return ListEnvelope(
        data=[
            EmailView(
                id=row.id,
                template=row.template,
                to=row.to_email,
                subject=row.subject,
                status=row.status,
                data=row.data,
                attempts=row.attempts,
                created_at=row.created_at,
                sent_at=row.sent_at,
            )
            for row in rows
        ]
    )


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
    await _require_customer(context, customer_id)
    async with context.sessions() as session:
        rows = [
            row
            for row in await ledger_of(session, customer_id)
            if audit or row.kind not in AUDIT_KINDS
        ]
    return ListEnvelope(
        data=[LedgerEventView.model_validate(row, from_attributes=True) for row in rows]
    )


def _encode_cursor(customer: Customer) -> str:
    raw = f"{customer.created_at.isoformat()}|{customer.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, customer_id = raw.partition("|")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or not customer_id:
            raise ValueError("not one of ours")
        return moment, customer_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Problem(
            422,
            "cursor: not a cursor this API returned",
            type="validation-error",
            errors=[FieldError("cursor", "invalid cursor")],
        ) from None


@router.get("/customers", response_model=CustomerPage)
async def search_customers(
    status: Status | None = Query(default=None),
    plan: str | None = Query(default=None, max_length=64),
    trial_ends_before: datetime | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=500),
    context: AppContext = Depends(get_context),
) -> CustomerPage:
    """Customers, oldest sign-up first, filtered; follow ``next_cursor`` for more."""
    if trial_ends_before is not None and trial_ends_before.tzinfo is None:
        raise Problem(
            422,
            "trial_ends_before: needs a timezone, e.g. 2026-12-01T00:00:00Z",
            type="validation-error",
            errors=[FieldError("trial_ends_before", "needs a timezone")],
        )
    query = select(Customer)
    if status is not None:
        query = query.where(Customer.status == status.value)
    if plan is not None:
        query = query.where(Customer.plan == plan)
    if trial_ends_before is not None:
        query = query.where(Customer.trial_ends_at < trial_ends_before)
    if cursor is not None:
        created, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                Customer.created_at > created,
                and_(Customer.created_at == created, Customer.id > last_id),
            )
        )
    query = query.order_by(Customer.created_at, Customer.id).limit(limit + 1)
    async with context.sessions() as session:
        rows = list(await session.scalars(query))
    page, more = rows[:limit], len(rows) > limit
    return CustomerPage(
        data=[customer_view(c) for c in page],
        next_cursor=_encode_cursor(page[-1]) if more and page else None,
    )


@router.post(
    "/customers/{customer_id}/trial-extension",
    response_model=CustomerView,
    responses=COMMAND_PROBLEMS,
)
async def extend_trial(
    customer_id: str,
    body: TrialExtensionRequest,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> CustomerView:
    """Move the trial end by ``days`` (also reopening an expired trial); 409 otherwise."""
    await _require_customer(context, customer_id)
    await run_command(
        context,
        customer_id,
        CustomerWorkflow.extend_trial,
        ExtendTrial(days=body.days, reason=body.reason, actor=principal.actor),
    )
    async with context.sessions() as session:
        customer = await session.get(Customer, customer_id)
    assert customer is not None
    return customer_view(customer)


@router.get("/audit", response_model=AuditPage)
async def read_audit(
    customer_id: str | None = Query(default=None, max_length=36),
    since: datetime | None = Query(default=None, description="Rows at or after this time"),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: int | None = Query(default=None, ge=0, description="next_cursor of the last page"),
    context: AppContext = Depends(get_context),
) -> AuditPage:
    """The hash-chained ledger in chain order (each row carries its and its parent's hash)."""
    if since is not None and since.tzinfo is None:
        raise Problem(
            422,
            "since: needs a timezone, e.g. 2026-12-01T00:00:00Z",
            type="validation-error",
            errors=[FieldError("since", "needs a timezone")],
        )
    query = ledger_query(customer_id=customer_id, since=since)
    if cursor is not None:
        query = query.where(LedgerEvent.id > cursor)
    async with context.sessions() as session:
        rows = list(await session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    return AuditPage(
        data=[AuditRowView.model_validate(row, from_attributes=True) for row in page],
        next_cursor=str(page[-1].id) if len(rows) > limit and page else None,
    )


@router.get("/customers/{customer_id}/export")
async def export_customer(
    customer_id: str, context: AppContext = Depends(get_context)
) -> dict[str, Any]:
    """Everything the engine holds about the customer, as one JSON document: profile,
    subscription, invoices, usage, emails, notifications, webhooks received and the ledger."""
    async with context.sessions() as session:
        document = await customer_export(session, customer_id)
    if document is None:
        raise not_found("customer", customer_id)
    document["exported_at"] = datetime.now(UTC).isoformat()
    return document


@router.delete("/customers/{customer_id}", response_model=ErasureView, responses=COMMAND_PROBLEMS)
async def erase_customer(
    customer_id: str,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> ErasureView:
    """GDPR erasure: cancels any subscription, deletes the provider customer's personal
    data, removes name and email everywhere in the app database (the financial ledger
    stays, under the customer's pseudonymous id), and ends the customer's workflow."""
    async with context.sessions() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    if is_erased(customer_id, customer.external_id):
        return ErasureView(customer_id=customer_id, erased=True, already_erased=True)
    await run_command(
        context, customer_id, CustomerWorkflow.erase, EraseCustomer(actor=principal.actor)
    )
    return ErasureView(customer_id=customer_id, erased=True, already_erased=False)
