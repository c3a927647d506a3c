"""API keys: ``Authorization: Bearer <key>`` with scope ``app`` or ``admin`` (admin can do both)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Problem
from db.api_keys import find_key
from db.engine import SessionFactory


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
    def __init__(self, *, app_keys: tuple[str, ...], admin_keys: tuple[str, ...]) -> None:
        self._keys = [(k, Scope.APP) for k in app_keys] + [(k, Scope.ADMIN) for k in admin_keys]

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
    return await principal_for(
        request.headers.get("authorization"),
        request.app.state.context.keys,
        request.app.state.context.sessions,
    )


async def principal_for(header: str | None, keys: KeyRing, sessions: SessionFactory) -> Principal:
    """Who the ``Authorization`` header's key belongs to; a 401 problem when nobody."""
    if not header:
        raise _unauthorized("missing Authorization header; send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization must be 'Bearer <key>'")
    principal = await principal_of_key(token.strip(), keys, sessions)
    if principal is None:
        raise _unauthorized("unknown API key")
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
    return principal


async def require_app(principal: Principal = Security(authenticate)) -> Principal:
    return principal


async def require_admin(principal: Principal = Security(authenticate)) -> Principal:
    if principal.scope is not Scope.ADMIN:
        raise Problem(403, "this endpoint needs an API key with scope 'admin'", type="forbidden")
    return principal
