"""Portable write helpers. They run inside the caller's transaction and never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Result
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from db.engine import insert_for


async def insert_ignoring_conflict(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], *, on: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row was new."""
    statement = (
        insert_for(session)(model).values(**values).on_conflict_do_nothing(index_elements=on)
    )
    return rows_affected(await session.execute(statement)) > 0


def rows_affected(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched (``Result`` types hide rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


def is_refused_value(exc: BaseException) -> bool:
    """PostgreSQL refused a value (SQLSTATE class 22, "data exception": a NUL in text, a
    number out of range, an overlong string), so every retry is refused the same way.
    asyncpg's come through SQLAlchemy as a bare DBAPIError, so the SQLSTATE decides."""
    if isinstance(exc, DataError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(state, str) and state.startswith("22")
