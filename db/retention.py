"""What the save flow and its report read from the ledger (the workflow writes the rows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerEvent
from domain.growth.save_flow import RetentionEvent

# The ledger rows of churn prevention, in the order a customer meets them.
RETENTION_KINDS = (
    "cancellation_requested",
    "offer_sent",
    "offer_not_sent",
    "offer_accepted",
    "cancellation_scheduled",
    "subscription_canceled",
)


async def save_offers_taken(session: AsyncSession, customer_id: str, since: datetime) -> set[str]:
    """Save-flow offer kinds the customer took since ``since``."""
    rows = await session.scalars(
        select(LedgerEvent.data).where(
            LedgerEvent.customer_id == customer_id,
            LedgerEvent.kind == "offer_accepted",
            LedgerEvent.occurred_at >= since,
        )
    )
    return {str(d.get("kind")) for d in rows if d.get("source") == "save_flow"}


async def retention_events(session: AsyncSession, start: datetime) -> list[RetentionEvent]:
    """Every churn-prevention and cancellation row from ``start`` on."""
    result = await session.execute(
        select(LedgerEvent.customer_id, LedgerEvent.kind, LedgerEvent.occurred_at, LedgerEvent.data)
        .where(
            LedgerEvent.kind.in_(RETENTION_KINDS),
            LedgerEvent.occurred_at >= start,
            LedgerEvent.customer_id.is_not(None),
        )
        .order_by(LedgerEvent.id)
    )
    return [
        RetentionEvent(customer_id=str(cid), kind=kind, at=at, data=dict(data or {}))
        for cid, kind, at, data in result.all()
    ]
