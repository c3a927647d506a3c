"""API keys: ``Authorization: Bearer <key>`` with scope ``app`` or ``admin`` (admin can do both)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Problem
from core.clock import utcnow
from db.api_keys import find_key
from db.engine import SessionFactory
from services.key_usage import KeyUseRecorder
from services.security import AUTH_FAILED, AUTH_RATE_LIMITED, FailedAuthLimiter
from services.security import record_security_event as record_event


class Scope(StrEnum):
    APP = "app"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    scope: Scope
    # A non-secret fingerprint of the key, recorded as the actor of admin actions.
    key_id: str

    @property
    def actor(self) -> str:
        return f"{self.scope}:{self.key_id}"


def key_fingerprint(key: str) -> str:
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


class KeyRing:
    """The environment's keys, plus this process's memory of stored keys' last use and of
    failed authentications per address."""

    def __init__(
        self,
        *,
        app_keys: tuple[str, ...],
        admin_keys: tuple[str, ...],
        limiter: FailedAuthLimiter | None = None,
    ) -> None:
        self._keys = [(k, Scope.APP) for k in app_keys] + [(k, Scope.ADMIN) for k in admin_keys]
        self.used = KeyUseRecorder()
        self.limiter = limiter or FailedAuthLimiter()

    @property
    def environment_fingerprints(self) -> dict[str, str]:
        """The environment's keys for the access review: fingerprint to scope."""
        return {key_fingerprint(key): str(scope) for key, scope in self._keys}

    def __bool__(self) -> bool:
        return bool(self._keys)

    def lookup(self, presented: str) -> Principal | None:
        found: Principal | None = None
        # Compare against every key in constant time so timing does not reveal which matched.
        for key, scope in self._keys:
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = Principal(scope=scope, key_id=key_fingerprint(key))
        return found


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, type="unauthorized", headers={"WWW-Authenticate": "Bearer"})


# Declares the scheme in the OpenAPI document (and on every operation that needs a key);
# the header is read below, so that every refusal is a problem document.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: scope `app`, or `admin` (which may also call app operations)",
)


async def authenticate(
    request: Request,
    declared: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
) -> Principal:
    keys: KeyRing = request.app.state.context.keys
    sessions: SessionFactory = request.app.state.context.sessions
    address = request.client.host if request.client else None
    _refuse_if_limited(keys, address)
    header = request.headers.get("authorization")
    try:
        return await principal_for(header, keys, sessions)
    except Problem as refused:
        # The hot routes hand an unknown key to this route: logged once, here. A request
        # with no key guesses nothing: neither logged (a write per anonymous request would
        # hand a flood to the database) nor counted.
        presented = (header or "").partition(" ")[2].strip() or None
        if presented is None:
            raise
        detail = {"reason": refused.detail, "path": request.url.path}
        await record_event(
            sessions, AUTH_FAILED, presented_key=presented, client_ip=address, detail=detail
        )
        if keys.limiter.failed(address):
            await record_event(sessions, AUTH_RATE_LIMITED, client_ip=address, detail=detail)
        raise


def _refuse_if_limited(keys: KeyRing, address: str | None) -> None:
    wait = keys.limiter.retry_after(address)
    if wait is not None:
        raise Problem(
            429,
            f"too many failed authentications from this address; retry in {wait} s",
            type="too-many-failed-authentications",
            headers={"Retry-After": str(wait)},
        )


async def principal_for(
    header: str | None, keys: KeyRing, sessions: SessionFactory, *, client_ip: str | None = None
) -> Principal:
    """Who the ``Authorization`` header's key belongs to; a 401 problem when nobody, a 429
    when ``client_ip`` failed too often (before the key is looked at: a limited address
    learns nothing of the keys it tries, whatever path it takes)."""
    _refuse_if_limited(keys, client_ip)
    if not header:
        raise _unauthorized("missing Authorization header; send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization must be 'Bearer <key>'")
    principal = await principal_of_key(token.strip(), keys, sessions)
    if principal is None:
        raise _unauthorized("unknown, revoked or expired API key")
    return principal


async def principal_of_key(key: str, keys: KeyRing, sessions: SessionFactory) -> Principal | None:
    """Whose key this is: one from the environment, or one made with `lifecycle keys
    create` (stored hashed in the database)."""
    principal = keys.lookup(key)
    if principal is None:
        async with sessions() as session:
            stored = await find_key(session, key)
        if stored is not None:
            principal = Principal(scope=Scope(stored.scope), key_id=stored.id)
            keys.used.touch(stored.id, utcnow())
    return principal


async def require_app(principal: Principal = Security(authenticate)) -> Principal:
    return principal


async def require_admin(principal: Principal = Security(authenticate)) -> Principal:
    if principal.scope is not Scope.ADMIN:
        raise Problem(403, "this endpoint needs an API key with scope 'admin'", type="forbidden")
    return principal
