"""The ledger chain's head, and whether the chain still holds an anchored head."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerEvent
from domain.anchors import ChainHead


async def chain_head(session: AsyncSession) -> ChainHead | None:
    """The newest row's position and hash (None: an empty ledger)."""
    newest = (
        await session.execute(
            select(LedgerEvent.id, LedgerEvent.hash).order_by(LedgerEvent.id.desc()).limit(1)
        )
    ).first()
    if newest is None:
        return None
    rows = await session.scalar(select(func.count()).select_from(LedgerEvent))
    return ChainHead(rows=int(rows or 0), head_id=newest.id, head_hash=newest.hash)


async def head_problem(session: AsyncSession, head: ChainHead) -> str | None:
    """Why the chain no longer has ``head`` at its position, or None when it does."""
    found = await session.scalar(select(LedgerEvent.hash).where(LedgerEvent.id == head.head_id))
    if found is None:
        return f"row {head.head_id} is gone"
    if found != head.head_hash:
        return f"row {head.head_id} has another hash: the chain was rewritten"
    rows = await session.scalar(
        select(func.count()).select_from(LedgerEvent).where(LedgerEvent.id <= head.head_id)
    )
    if rows != head.rows:
        return f"{rows} rows up to row {head.head_id}, the anchor counted {head.rows}"
    return None
