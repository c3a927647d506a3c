"""Stored API keys: only a SHA-256 of each key is kept, never the key."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApiKey

SCOPES = ("app", "admin")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    id: str
    scope: str
    name: str
    # Shown once, at creation.
    key: str


async def create_key(session: AsyncSession, *, scope: str, name: str) -> CreatedKey:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    key = f"lc_{scope}_{secrets.token_urlsafe(24)}"
    key_id = f"key_{secrets.token_hex(6)}"
    session.add(
        ApiKey(
            id=key_id,
            name=name,
            scope=scope,
            key_hash=key_hash(key),
            created_at=datetime.now(UTC),
        )
    )
    await session.flush()
    return CreatedKey(id=key_id, scope=scope, name=name, key=key)


async def find_key(session: AsyncSession, presented: str) -> ApiKey | None:
    found: ApiKey | None = await session.scalar(
        select(ApiKey).where(ApiKey.key_hash == key_hash(presented), ApiKey.revoked_at.is_(None))
    )
    return found
