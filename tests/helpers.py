"""Small test helpers shared by workflow and end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select

from db.engine import SessionFactory
from db.ledger import AUDIT_KINDS
from db.models import EmailOutbox, LedgerEvent

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    predicate: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
) -> T:
    """Poll ``probe`` (real time) until ``predicate`` holds; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not predicate(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await probe()
    return value


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
