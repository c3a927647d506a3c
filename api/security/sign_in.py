"""Dashboard sign-ins in the security log (called by api/dashboard/routes.py)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import PlainTextResponse

from api.auth import Principal
from api.context import AppContext
from services.security import ADMIN_SIGN_IN, ADMIN_SIGN_IN_FAILED, record_security_event


def sign_in_limited(request: Request, context: AppContext) -> PlainTextResponse | None:
    """A 429 for an address past its failed-authentication limit, before its key is
    looked at (else the sign-in form would tell it which keys are real)."""
    address = request.client.host if request.client else None
    wait = context.keys.limiter.retry_after(address)
    if wait is None:
        return None
    return PlainTextResponse(
        f"Too many failed sign-ins from this address; retry in {wait} s.",
        status_code=429,
        headers={"Retry-After": str(wait)},
    )


async def record_sign_in(
    request: Request, context: AppContext, presented: str, principal: Principal | None
) -> None:
    """A sign-in with an admin key (its actor), or a refused one (the key's prefix); a
    refusal counts against the address like a failed API authentication."""
    address = request.client.host if request.client else None
    if principal is not None and principal.scope == "admin":
        await record_security_event(
            context.sessions, ADMIN_SIGN_IN, actor=principal.actor, client_ip=address
        )
        return
    await record_security_event(
        context.sessions,
        ADMIN_SIGN_IN_FAILED,
        actor=principal.actor if principal else None,
        presented_key=presented,
        client_ip=address,
        detail={"reason": "not an admin key" if principal else "unknown key"},
    )
    context.keys.limiter.failed(address)
