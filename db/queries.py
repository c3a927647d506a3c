"""Read queries shared by the API and the CLI. They never commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Customer, EmailOutbox, LedgerEvent


async def customer_by_external_id(session: AsyncSession, external_id: str) -> Customer | None:
    customer: Customer | None = await session.scalar(
        select(Customer).where(Customer.external_id == external_id)
    )
    return customer


async def emails_of(session: AsyncSession, customer_id: str) -> Sequence[EmailOutbox]:
    rows = await session.scalars(
        select(EmailOutbox)
        .where(EmailOutbox.customer_id == customer_id)
        .order_by(EmailOutbox.created_at, EmailOutbox.id)
    )
    return rows.all()


async def ledger_of(session: AsyncSession, customer_id: str) -> Sequence[LedgerEvent]:
    rows = await session.scalars(
        select(LedgerEvent)
        .where(LedgerEvent.customer_id == customer_id)
        .order_by(LedgerEvent.occurred_at, LedgerEvent.id)
    )
    return rows.all()
