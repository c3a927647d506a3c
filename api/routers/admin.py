"""Admin endpoints (scope ``admin``): what the engine sent and recorded for a customer."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import require_admin
from api.context import AppContext, get_context
from api.errors import not_found
from api.schemas import EmailView, LedgerEventView, ListEnvelope
from db.models import Customer
from db.queries import emails_of, ledger_of

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
    customer_id: str, context: AppContext = Depends(get_context)
) -> ListEnvelope[LedgerEventView]:
    await _require_customer(context, customer_id)
    async with context.sessions() as session:
        rows = await ledger_of(session, customer_id)
    return ListEnvelope(
        data=[LedgerEventView.model_validate(row, from_attributes=True) for row in rows]
    )
