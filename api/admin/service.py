"""The admin use cases: a customer's emails and ledger, customer search, the audit chain,
trial extension, export and GDPR erasure."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from api.admin.schemas import (
    AuditPage,
    AuditRowView,
    CustomerPage,
    EmailView,
    ErasureView,
    LedgerEventView,
    TrialExtensionRequest,
)
from api.context import AppContext
from api.customers.schemas import CustomerView
from api.customers.service import customer_or_404, customer_view
from api.errors import FieldError, Problem, not_found
from api.lifecycle_client import run_command
from db.export import customer_export
from db.ledger import AUDIT_KINDS, ledger_query
from db.models import ChurnScore, Customer, LedgerEvent
from db.queries import emails_of, ledger_of
from domain.erasure import is_erased
from domain.lifecycle import Status
from workflows.customer import CustomerWorkflow
from workflows.messages import EraseCustomer, ExtendTrial


async def customer_emails(context: AppContext, customer_id: str) -> list[EmailView]:
    await customer_or_404(context, customer_id)
    async with context.sessions() as session:
        rows = await emails_of(session, customer_id)
    return [
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


async def customer_events(
    context: AppContext, customer_id: str, *, audit: bool
) -> list[LedgerEventView]:
    """The customer's ledger, oldest first."""
    await customer_or_404(context, customer_id)
    async with context.sessions() as session:
        rows = [
            row
            for row in await ledger_of(session, customer_id)
            if audit or row.kind not in AUDIT_KINDS
        ]
    return [LedgerEventView.model_validate(row, from_attributes=True) for row in rows]


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


def _require_zone(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise Problem(
            422,
            f"{name}: needs a timezone, e.g. 2026-12-01T00:00:00Z",
            type="validation-error",
            errors=[FieldError(name, "needs a timezone")],
        )


async def search_customers(
    context: AppContext,
    *,
    status: Status | None,
    plan: str | None,
    trial_ends_before: datetime | None,
    churn_risk: str | None = None,
    limit: int,
    cursor: str | None,
) -> CustomerPage:
    """Customers, oldest sign-up first, filtered; follow ``next_cursor`` for more."""
    _require_zone("trial_ends_before", trial_ends_before)
    query = select(Customer)
    if status is not None:
        query = query.where(Customer.status == status.value)
    if plan is not None:
        query = query.where(Customer.plan == plan)
    if trial_ends_before is not None:
        query = query.where(Customer.trial_ends_at < trial_ends_before)
    if churn_risk is not None:
        query = query.join(ChurnScore, ChurnScore.customer_id == Customer.id).where(
            ChurnScore.risk == churn_risk
        )
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


async def extend_trial(
    context: AppContext, customer_id: str, body: TrialExtensionRequest, actor: str
) -> CustomerView:
    """Move the trial end by ``days`` (also reopening an expired trial); 409 otherwise."""
    await customer_or_404(context, customer_id)
    await run_command(
        context,
        customer_id,
        CustomerWorkflow.extend_trial,
        ExtendTrial(days=body.days, reason=body.reason, actor=actor),
    )
    async with context.sessions() as session:
        customer = await session.get(Customer, customer_id)
    assert customer is not None
    return customer_view(customer)


async def read_audit(
    context: AppContext,
    *,
    customer_id: str | None,
    since: datetime | None,
    limit: int,
    cursor: int | None,
) -> AuditPage:
    """The hash-chained ledger in chain order (each row carries its and its parent's hash)."""
    _require_zone("since", since)
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


async def export_customer(context: AppContext, customer_id: str) -> dict[str, Any]:
    """Everything the engine holds about the customer, as one JSON document."""
    async with context.sessions() as session:
        document = await customer_export(session, customer_id)
    if document is None:
        raise not_found("customer", customer_id)
    document["exported_at"] = datetime.now(UTC).isoformat()
    return document


async def erase_customer(context: AppContext, customer_id: str, actor: str) -> ErasureView:
    """GDPR erasure through the customer's workflow; a second request finds it done."""
    customer = await customer_or_404(context, customer_id)
    if is_erased(customer_id, customer.external_id):
        return ErasureView(customer_id=customer_id, erased=True, already_erased=True)
    await run_command(context, customer_id, CustomerWorkflow.erase, EraseCustomer(actor=actor))
    return ErasureView(customer_id=customer_id, erased=True, already_erased=False)
