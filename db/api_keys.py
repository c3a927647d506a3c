"""Stored API keys: only a SHA-256 of each key is kept, never the key. Expiry, creator and
last use live beside them in ``api_key_details`` (the access review)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import ApiKey, ApiKeyDetail

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
    expires_at: datetime | None = None


async def create_key(
    session: AsyncSession,
    *,
    scope: str,
    name: str,
    created_by: str | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
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
    session.add(ApiKeyDetail(key_id=key_id, created_by=created_by, expires_at=expires_at))
    await session.flush()
    return CreatedKey(id=key_id, scope=scope, name=name, key=key, expires_at=expires_at)


async def find_key(
    session: AsyncSession, presented: str, now: datetime | None = None
) -> ApiKey | None:
    """The stored key presented, unless revoked or expired."""
    moment = now or datetime.now(UTC)
    found: ApiKey | None = await session.scalar(
        select(ApiKey)
        .outerjoin(ApiKeyDetail, ApiKeyDetail.key_id == ApiKey.id)
        .where(
            ApiKey.key_hash == key_hash(presented),
            ApiKey.revoked_at.is_(None),
            or_(ApiKeyDetail.expires_at.is_(None), ApiKeyDetail.expires_at > moment),
        )
    )
    return found


async def record_last_used(session: AsyncSession, used: Mapping[str, datetime]) -> None:
    """Keys' last use, batched by the API's recorder (services/key_usage.py)."""
    known = set(await session.scalars(select(ApiKey.id).where(ApiKey.id.in_(list(used)))))
    rows = [{"key_id": k, "last_used_at": at} for k, at in used.items() if k in known]
    if not rows:
        return
    insert = insert_for(session)(ApiKeyDetail).values(rows)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["key_id"], set_={"last_used_at": insert.excluded.last_used_at}
        )
    )


async def revoke_keys(
    session: AsyncSession, now: datetime, *, key_id: str | None = None, scope: str | None = None
) -> list[ApiKey]:
    """Revoke one key (by id) or every live key of a scope; returns the keys revoked now."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if key_id is not None:
        query = query.where(ApiKey.id == key_id)
    if scope is not None:
        query = query.where(ApiKey.scope == scope)
    keys = list(await session.scalars(query.order_by(ApiKey.created_at).with_for_update()))
    for key in keys:
        key.revoked_at = now
    await session.flush()
    return keys


async def review_rows(session: AsyncSession) -> list[tuple[ApiKey, ApiKeyDetail | None]]:
    """Every stored key with its details (none for keys made before the review existed)."""
    rows = await session.execute(
        select(ApiKey, ApiKeyDetail)
        .outerjoin(ApiKeyDetail, ApiKeyDetail.key_id == ApiKey.id)
        .order_by(ApiKey.created_at)
    )
    return [(key, detail) for key, detail in rows.all()]
