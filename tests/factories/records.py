"""What the engine wrote for a customer: its outbox emails and its ledger rows."""

from __future__ import annotations

from sqlalchemy import select

from db.engine import SessionFactory
from db.ledger import AUDIT_KINDS
from db.models import EmailOutbox, LedgerEvent


async def outbox(sessions: SessionFactory, customer_id: str) -> list[EmailOutbox]:
    async with sessions() as session:
        rows = await session.scalars(
            select(EmailOutbox)
            .where(EmailOutbox.customer_id == customer_id)
            .order_by(EmailOutbox.created_at, EmailOutbox.id)
        )
        return list(rows)


async def ledger(
    sessions: SessionFactory, customer_id: str, *, audit: bool = False
) -> list[LedgerEvent]:
    """The customer's lifecycle rows; ``audit=True`` adds emails, webhooks and payments."""
    async with sessions() as session:
        query = select(LedgerEvent).where(LedgerEvent.customer_id == customer_id)
        if not audit:
            query = query.where(LedgerEvent.kind.not_in(AUDIT_KINDS))
        rows = await session.scalars(query.order_by(LedgerEvent.id))
        return list(rows)
