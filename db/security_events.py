"""The security event log (``security_events``): appended, read back newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.metrics import SECURITY_EVENTS
from db.models import SecurityEvent
from db.writes import rows_affected


async def append_security_event(
    session: AsyncSession,
    *,
    kind: str,
    occurred_at: datetime,
    actor: str | None = None,
    key_prefix: str | None = None,
    client_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        SecurityEvent(
            kind=kind,
            occurred_at=occurred_at,
            actor=actor,
            key_prefix=key_prefix,
            client_ip=client_ip,
            detail=detail or {},
        )
    )
    await session.flush()
    # Kinds are the engine's constants (services.security and the few admin actions), a
    # small fixed set; an appended row later rolled back is still an attempt worth counting.
    SECURITY_EVENTS.labels(kind).inc()


async def purge_security_events(session: AsyncSession, *, before: datetime) -> int:
    """Delete the security events older than ``before`` (at least 30 days ago: PostgreSQL
    refuses a later bound, see migration 0024); the rows deleted."""
    if session.get_bind().dialect.name == "postgresql":
        purged = await session.scalar(
            text("SELECT purge_security_events(:before)"), {"before": before}
        )
        return int(purged or 0)
    result = await session.execute(delete(SecurityEvent).where(SecurityEvent.occurred_at < before))
    return rows_affected(result)


async def security_events(
    session: AsyncSession,
    *,
    kind: str | None = None,
    since: datetime | None = None,
    client_ip: str | None = None,
    limit: int = 100,
) -> list[SecurityEvent]:
    query = select(SecurityEvent)
    if kind is not None:
        query = query.where(SecurityEvent.kind == kind)
    if since is not None:
        query = query.where(SecurityEvent.occurred_at >= since)
    if client_ip is not None:
        query = query.where(SecurityEvent.client_ip == client_ip)
    rows = await session.scalars(query.order_by(SecurityEvent.id.desc()).limit(limit))
    return list(rows)
