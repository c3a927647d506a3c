"""Kill switches (``kill_switches``): named flags an operator throws in an incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import KillSwitch

MONEY_MOVEMENT = "money_movement"


async def switch(session: AsyncSession, name: str) -> KillSwitch | None:
    found: KillSwitch | None = await session.get(KillSwitch, name, populate_existing=True)
    return found


async def is_on(session: AsyncSession, name: str) -> bool:
    found = await switch(session, name)
    return bool(found and found.active)


async def set_switch(
    session: AsyncSession,
    name: str,
    *,
    active: bool,
    reason: str,
    actor: str,
    now: datetime,
) -> bool:
    """Throw the switch; returns whether it was on before."""
    before = await is_on(session, name)
    values = {"active": active, "reason": reason, "actor": actor, "changed_at": now}
    insert = insert_for(session)(KillSwitch).values(name=name, **values)
    await session.execute(insert.on_conflict_do_update(index_elements=["name"], set_=values))
    return before
