"""Config versions (change management): one row per canonical content, recorded by each
process that loads it, with the diff from the version that ran before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config_versions import CanonicalConfig, unified_diff
from db.engine import insert_for
from db.models import ConfigVersion, Customer


async def current_version(session: AsyncSession) -> ConfigVersion | None:
    """The version loaded last (by any process)."""
    return await session.scalar(
        select(ConfigVersion)
        .order_by(ConfigVersion.last_loaded_at.desc(), ConfigVersion.loaded_at.desc())
        .limit(1)
    )


async def record_version(
    session: AsyncSession, config: CanonicalConfig, *, deployed_by: str | None, now: datetime
) -> None:
    """Store the version once (a process loading it again, or the API and the worker
    starting together, only move ``last_loaded_at``); a new one carries the diff from the
    version loaded last."""
    previous = await current_version(session)
    diff = None
    previous_hash = None
    if previous is not None and previous.hash != config.hash:
        previous_hash = previous.hash
        diff = unified_diff(
            previous.content,
            config.content,
            before_name=f"config@{previous.hash[:12]}",
            after_name=f"config@{config.hash[:12]}",
        )
    statement = insert_for(session)(ConfigVersion).values(
        hash=config.hash,
        content=config.content,
        deployed_by=deployed_by,
        previous_hash=previous_hash,
        diff=diff,
        loaded_at=now,
        last_loaded_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["hash"], set_={"last_loaded_at": statement.excluded.last_loaded_at}
    )
    await session.execute(statement)


async def list_versions(session: AsyncSession, *, limit: int) -> list[ConfigVersion]:
    return list(
        await session.scalars(
            select(ConfigVersion).order_by(ConfigVersion.loaded_at.desc()).limit(limit)
        )
    )


async def get_version(session: AsyncSession, version_hash: str) -> ConfigVersion | None:
    return await session.get(ConfigVersion, version_hash)


async def customers_by_version(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Customer.config_version, func.count())
        .where(Customer.config_version.is_not(None))
        .group_by(Customer.config_version)
    )
    return {str(version): int(count) for version, count in rows.all()}
