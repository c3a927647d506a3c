"""What the engine wrote for a customer: its outbox emails and its ledger rows; a ledger
row of a scripted history written as the engine writes one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import SessionFactory
from db.ledger import AUDIT_KINDS, append_ledger
from db.models import EmailOutbox, LedgerEvent
from domain.reporting.ledger import LedgerRow


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


async def append_row(
    session: AsyncSession, row: LedgerRow, *, event_key: str, recorded_at: datetime
) -> None:
    """``row`` through ``append_ledger`` (the hash chain), as the engine appends one."""
    await append_ledger(
        session,
        {
            "event_key": event_key,
            "customer_id": row.customer_id,
            "kind": row.kind,
            "actor": row.actor,
            "from_status": row.from_status,
            "to_status": row.to_status,
            "plan": row.plan,
            "interval": row.interval,
            "mrr_delta_cents": row.mrr_delta_cents,
            "data": dict(row.data),
            "occurred_at": row.occurred_at,
            "recorded_at": recorded_at,
        },
    )
