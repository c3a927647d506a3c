"""Change management: the config a process loads is recorded at its start (the API's and
the worker's), and read back for ``GET /v1/admin/config-versions`` and ``lifecycle config
versions``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.clock import utcnow
from core.config_versions import read_canonical_config
from db.config_versions import (
    current_version,
    customers_by_version,
    get_version,
    list_versions,
    record_version,
)
from db.engine import SessionFactory
from db.models import ConfigVersion as ConfigVersionRow

logger = logging.getLogger("lifecycle.config")


@dataclass(frozen=True)
class ConfigVersion:
    hash: str
    deployed_by: str | None
    loaded_at: datetime
    last_loaded_at: datetime
    previous_hash: str | None
    diff: str | None
    # Customers whose read model was last synced by a worker on this version.
    customers: int
    current: bool
    content: str | None = None


async def record_loaded_config(
    sessions: SessionFactory, path: Path, *, deployed_by: str | None
) -> str:
    """Record the config file this process loaded; returns its version (hash)."""
    config = await asyncio.to_thread(read_canonical_config, path)
    async with sessions.begin() as session:
        await record_version(session, config, deployed_by=deployed_by, now=utcnow())
    logger.info("config version %s loaded (deployed by %s)", config.hash[:12], deployed_by)
    return config.hash


def _version(
    row: ConfigVersionRow, counts: dict[str, int], current: str | None, *, content: bool
) -> ConfigVersion:
    return ConfigVersion(
        hash=row.hash,
        deployed_by=row.deployed_by,
        loaded_at=row.loaded_at,
        last_loaded_at=row.last_loaded_at,
        previous_hash=row.previous_hash,
        diff=row.diff,
        customers=counts.get(row.hash, 0),
        current=row.hash == current,
        content=row.content if content else None,
    )


async def config_versions(sessions: SessionFactory, *, limit: int = 100) -> list[ConfigVersion]:
    """Newest first."""
    async with sessions() as session:
        rows = await list_versions(session, limit=limit)
        counts = await customers_by_version(session)
        current = await current_version(session)
    now = current.hash if current is not None else None
    return [_version(row, counts, now, content=False) for row in rows]


async def config_version(sessions: SessionFactory, version_hash: str) -> ConfigVersion | None:
    async with sessions() as session:
        row = await get_version(session, version_hash)
        if row is None:
            return None
        counts = await customers_by_version(session)
        current = await current_version(session)
    return _version(row, counts, current.hash if current else None, content=True)
