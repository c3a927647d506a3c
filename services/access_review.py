"""API keys' life as admins steer it: the access review (the admin API and `lifecycle keys
review`), creation and revocation, each recorded in the ledger and the security log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.clock import utcnow
from db.api_keys import CreatedKey, create_key, review_rows, revoke_keys
from db.engine import SessionFactory
from db.ledger import append_ledger
from db.models import ApiKey
from db.security_events import append_security_event
from domain.access_review import KeyFacts, ReviewedKey, review
from services.security import KEY_CREATED, KEY_REVOKED


def environment_key_facts(fingerprints: dict[str, str]) -> list[KeyFacts]:
    """Keys set in LIFECYCLE_*_API_KEYS, by fingerprint (``api.auth.key_fingerprint``) and
    scope: the engine knows neither when they were made nor by whom."""
    return [
        KeyFacts(
            id=fingerprint,
            name="(environment)",
            scope=scope,
            source="environment",
            created_by=None,
            created_at=None,
            last_used_at=None,
            expires_at=None,
            revoked_at=None,
        )
        for fingerprint, scope in sorted(fingerprints.items())
    ]


async def access_review(
    sessions: SessionFactory,
    now: datetime,
    *,
    unused_days: int,
    environment_keys: dict[str, str] | None = None,
) -> list[ReviewedKey]:
    async with sessions() as session:
        rows = await review_rows(session)
    stored = [
        KeyFacts(
            id=key.id,
            name=key.name,
            scope=key.scope,
            source="database",
            created_by=detail.created_by if detail else None,
            created_at=key.created_at,
            last_used_at=detail.last_used_at if detail else None,
            expires_at=detail.expires_at if detail else None,
            revoked_at=key.revoked_at,
        )
        for key, detail in rows
    ]
    return review(stored + environment_key_facts(environment_keys or {}), now, unused_days)


def _ledger_row(kind: str, key_id: str, actor: str, now: datetime, data: dict[str, Any]) -> Any:
    return {
        "event_key": f"{kind}:{key_id}",
        "customer_id": None,
        "kind": kind,
        "actor": actor,
        "from_status": None,
        "to_status": None,
        "plan": None,
        "interval": None,
        "mrr_delta_cents": 0,
        "data": {"key_id": key_id, **data},
        "occurred_at": now,
        "recorded_at": now,
    }


async def create_api_key(
    sessions: SessionFactory,
    *,
    scope: str,
    name: str,
    actor: str,
    expires_at: datetime | None = None,
) -> CreatedKey:
    """A stored key, in the ledger (as before) and the security log."""
    now = utcnow()
    async with sessions.begin() as session:
        created = await create_key(
            session, scope=scope, name=name, created_by=actor, expires_at=expires_at
        )
        data = {"scope": scope, "name": name}
        if expires_at is not None:
            data["expires_at"] = expires_at.isoformat()
        await append_ledger(session, _ledger_row("api_key_created", created.id, actor, now, data))
        await append_security_event(
            session,
            kind=KEY_CREATED,
            occurred_at=now,
            actor=actor,
            detail={"key_id": created.id, **data},
        )
    return created


async def revoke_api_keys(
    sessions: SessionFactory,
    *,
    actor: str,
    reason: str,
    key_id: str | None = None,
    scope: str | None = None,
) -> list[ApiKey]:
    """Revoke one key or every live key of a scope; each one in the ledger and the log."""
    if key_id is None and scope is None:
        raise ValueError("name a key or a scope")
    now = utcnow()
    async with sessions.begin() as session:
        revoked = await revoke_keys(session, now, key_id=key_id, scope=scope)
        for key in revoked:
            data = {"scope": key.scope, "name": key.name, "reason": reason}
            await append_ledger(session, _ledger_row("api_key_revoked", key.id, actor, now, data))
            await append_security_event(
                session,
                kind=KEY_REVOKED,
                occurred_at=now,
                actor=actor,
                detail={"key_id": key.id, **data},
            )
    return revoked
