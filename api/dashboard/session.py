"""The dashboard's sign-in: an admin key exchanged for a signed, HttpOnly session cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from api.auth import Principal, Scope, key_fingerprint
from api.context import AppContext
from db.models import ApiKey

COOKIE_NAME = "lc_admin_session"
SESSION_SECONDS = 8 * 3600


def _secret(context: AppContext) -> bytes:
    """LIFECYCLE_SESSION_SECRET, or one derived from settings every API replica shares."""
    settings = context.settings
    if settings.lifecycle_session_secret:
        return settings.lifecycle_session_secret.encode()
    material = "|".join(
        ["lifecycle-session", settings.database_url, *sorted(settings.admin_api_keys)]
    )
    return hashlib.sha256(material.encode()).digest()


def _sign(context: AppContext, payload: str) -> str:
    return hmac.new(_secret(context), payload.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    key_id: str
    expires_at: int


def issue(context: AppContext, principal: Principal, *, now: float | None = None) -> str:
    expires = int((now or time.time()) + SESSION_SECONDS)
    payload = f"{principal.key_id}|{expires}"
    token = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{token}.{_sign(context, payload)}"


async def verify(
    context: AppContext, cookie: str | None, *, now: float | None = None
) -> Session | None:
    """The session, if the cookie is ours, unexpired, and its admin key still valid."""
    if not cookie or "." not in cookie:
        return None
    token, _, signature = cookie.rpartition(".")
    try:
        payload = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        key_id, _, expires_text = payload.partition("|")
        expires = int(expires_text)
    except (ValueError, UnicodeDecodeError):
        return None
    # Bytes: compare_digest refuses str with non-ASCII characters, and a forged cookie may
    # carry any (the header is decoded as Latin-1).
    if not hmac.compare_digest(signature.encode(), _sign(context, payload).encode()):
        return None
    if expires < (now or time.time()):
        return None
    if not await _admin_key_still_valid(context, key_id):
        return None
    return Session(key_id=key_id, expires_at=expires)


async def _admin_key_still_valid(context: AppContext, key_id: str) -> bool:
    if key_id in {key_fingerprint(k) for k in context.settings.admin_api_keys}:
        return True
    async with context.sessions() as session:
        stored = await session.get(ApiKey, key_id)
    return stored is not None and stored.revoked_at is None and stored.scope == Scope.ADMIN
