"""Admin limit overrides (Enterprise contracts): a metric's limit replaced for a customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import LimitOverride


async def set_overrides(
    session: AsyncSession,
    customer_id: str,
    values: dict[str, int | None],
    actor: str,
    now: datetime,
) -> None:
    for metric, value in sorted(values.items()):
        insert = insert_for(session)(LimitOverride).values(
            customer_id=customer_id, metric=metric, value=value, actor=actor, updated_at=now
        )
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["customer_id", "metric"],
                set_={
                    "value": insert.excluded.value,
                    "actor": insert.excluded.actor,
                    "updated_at": insert.excluded.updated_at,
                },
            )
        )


async def delete_override(session: AsyncSession, customer_id: str, metric: str) -> None:
    await session.execute(
        delete(LimitOverride).where(
            LimitOverride.customer_id == customer_id, LimitOverride.metric == metric
        )
    )


async def overrides_of(session: AsyncSession, customer_id: str) -> dict[str, int | None]:
    rows = await session.execute(
        select(LimitOverride.metric, LimitOverride.value).where(
            LimitOverride.customer_id == customer_id
        )
    )
    return {metric: value for metric, value in rows}
