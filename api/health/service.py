"""Readiness: whether the database and Temporal answer in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from sqlalchemy import text

from api.context import AppContext

_CHECK_TIMEOUT = 3.0


async def readiness(context: AppContext) -> dict[str, str]:
    """Each dependency's answer: ``ok`` or the error it gave."""
    return {
        "database": await _check(_database(context)),
        "temporal": await _check(context.temporal.service_client.check_health()),
    }


async def _database(context: AppContext) -> None:
    async with context.sessions() as session:
        await session.execute(text("SELECT 1"))


async def _check(probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, timeout=_CHECK_TIMEOUT)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"
