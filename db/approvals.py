"""Approval requests (maker-checker): stored, listed, and moved on by guarded updates, so
two admins deciding at once cannot both win."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApprovalRequest
from db.writes import rows_affected


async def add_request(session: AsyncSession, request: ApprovalRequest) -> None:
    session.add(request)
    await session.flush()


async def get_request(session: AsyncSession, request_id: str) -> ApprovalRequest | None:
    return await session.get(ApprovalRequest, request_id)


async def list_requests(
    session: AsyncSession, *, status: str | None, limit: int
) -> list[ApprovalRequest]:
    query = select(ApprovalRequest).order_by(ApprovalRequest.created_at.desc(), ApprovalRequest.id)
    if status is not None:
        query = query.where(ApprovalRequest.status == status)
    return list(await session.scalars(query.limit(limit)))


async def move(
    session: AsyncSession,
    request_id: str,
    *,
    expected: str,
    to: str,
    **values: Any,
) -> bool:
    """Set ``status`` to ``to`` (and ``values``) only if it is still ``expected``; returns
    whether this call moved it."""
    result = await session.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == request_id, ApprovalRequest.status == expected)
        .values(status=to, **values)
    )
    return rows_affected(result) == 1


async def mark_decided(
    session: AsyncSession,
    request_id: str,
    *,
    to: str,
    decided_by: str,
    note: str | None,
    at: datetime,
) -> bool:
    return await move(
        session,
        request_id,
        expected="pending",
        to=to,
        decided_by=decided_by,
        decided_at=at,
        decision_note=note,
    )
