"""HTTP routes of the security controls (scope ``admin``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, require_admin
from api.context import AppContext, get_context
from api.errors import Problem, problem_responses
from api.security import service
from api.security.schemas import (
    AccessReview,
    FreezeChange,
    FreezeView,
    RevokedKey,
    SecurityEventView,
)

router = APIRouter(
    prefix="/v1/admin/security", tags=["security"], dependencies=[Depends(require_admin)]
)


@router.get("/keys", response_model=AccessReview)
async def access_review(
    unused_days: int | None = Query(
        None, ge=1, le=3650, description="Default: LIFECYCLE_KEY_UNUSED_DAYS"
    ),
    context: AppContext = Depends(get_context),
) -> AccessReview:
    """The access review: every API key with its scope, creator, creation, last use (to
    the minute), age, expiry and revocation; live keys unused for ``unused_days`` flagged."""
    return await service.access_review(context, unused_days)


@router.post("/keys/{key_id}/revoke", response_model=RevokedKey, responses=problem_responses(404))
async def revoke_key(
    key_id: str,
    principal: Principal = Depends(require_admin),
    context: AppContext = Depends(get_context),
) -> RevokedKey:
    """Revoke a stored key now (its next request gets 401); in the ledger and the log."""
    revoked = await service.revoke(context, key_id, principal.actor)
    if revoked is None:
        raise Problem(404, f"no live stored key {key_id!r}", type="not-found")
    return revoked


@router.get("/events", response_model=list[SecurityEventView])
async def security_events(
    kind: str | None = Query(None, max_length=48),
    client_ip: str | None = Query(None, max_length=64),
    since: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    context: AppContext = Depends(get_context),
) -> list[SecurityEventView]:
    """The security event log, newest first (failed authentication by key prefix and
    address, forged webhooks, keys created and revoked, dashboard sign-ins, freezes)."""
    return await service.events(context, kind=kind, client_ip=client_ip, since=since, limit=limit)


@router.get("/freeze", response_model=FreezeView)
async def freeze(context: AppContext = Depends(get_context)) -> FreezeView:
    """Whether money movements are frozen, since when, by whom and why."""
    return await service.freeze(context)


@router.put("/freeze", response_model=FreezeView)
async def set_freeze(
    body: FreezeChange,
    principal: Principal = Depends(require_admin),
    context: AppContext = Depends(get_context),
) -> FreezeView:
    """Freeze (``active: true``) or release money movements: while frozen, the commands
    that move money answer 503 and timed charges wait (retried, not lost) until released.
    In the ledger and the security log."""
    return await service.set_freeze(context, body, principal.actor)
