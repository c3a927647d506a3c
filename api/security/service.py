"""The security endpoints' use cases."""

from __future__ import annotations

from datetime import datetime

from api.context import AppContext
from api.security.schemas import (
    AccessReview,
    FreezeChange,
    FreezeView,
    ReviewedKeyView,
    RevokedKey,
    SecurityEventView,
)
from core.clock import utcnow
from db.security_events import security_events
from services import access_review as reviews
from services import freeze as freezes


async def access_review(context: AppContext, unused_days: int | None) -> AccessReview:
    now = utcnow()
    days = unused_days or context.settings.lifecycle_key_unused_days
    reviewed = await reviews.access_review(
        context.sessions,
        now,
        unused_days=days,
        environment_keys=context.keys.environment_fingerprints,
    )
    return AccessReview(
        generated_at=now,
        unused_days=days,
        keys=[
            ReviewedKeyView(
                id=r.facts.id,
                name=r.facts.name,
                scope=r.facts.scope,
                source=r.facts.source,
                created_by=r.facts.created_by,
                created_at=r.facts.created_at,
                last_used_at=r.facts.last_used_at,
                age_days=r.age_days,
                expires_at=r.facts.expires_at,
                revoked_at=r.facts.revoked_at,
                status=r.status,
                unused=r.unused,
                flags=list(r.flags),
            )
            for r in reviewed
        ],
    )


async def revoke(context: AppContext, key_id: str, actor: str) -> RevokedKey | None:
    revoked = await reviews.revoke_api_keys(
        context.sessions, actor=actor, reason="admin API", key_id=key_id
    )
    if not revoked:
        return None
    key = revoked[0]
    return RevokedKey(id=key.id, scope=key.scope, revoked_at=key.revoked_at or utcnow())


async def events(
    context: AppContext,
    *,
    kind: str | None,
    client_ip: str | None,
    since: datetime | None,
    limit: int,
) -> list[SecurityEventView]:
    async with context.sessions() as session:
        rows = await security_events(
            session, kind=kind, client_ip=client_ip, since=since, limit=limit
        )
    return [
        SecurityEventView(
            id=row.id,
            occurred_at=row.occurred_at,
            kind=row.kind,
            actor=row.actor,
            key_prefix=row.key_prefix,
            client_ip=row.client_ip,
            detail=row.detail,
        )
        for row in rows
    ]


def _freeze_view(state: freezes.FreezeState) -> FreezeView:
    return FreezeView(
        active=state.active, reason=state.reason, actor=state.actor, changed_at=state.changed_at
    )


async def freeze(context: AppContext) -> FreezeView:
    return _freeze_view(await freezes.freeze_state(context.sessions))


async def set_freeze(context: AppContext, body: FreezeChange, actor: str) -> FreezeView:
    state = await freezes.set_freeze(
        context.sessions, active=body.active, reason=body.reason, actor=actor
    )
    return _freeze_view(state)
