"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.context import AppContext, get_context

router = APIRouter(tags=["health"])

_CHECK_TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. Orchestrators restart it when this fails."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is not reachable"}})
async def readyz(context: AppContext = Depends(get_context)) -> JSONResponse:
    """The database and Temporal answer; load balancers send traffic only then."""
    checks = {
        "database": await _check(_database(context)),
        "temporal": await _check(context.temporal.service_client.check_health()),
    }
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _database(context: AppContext) -> None:
    async with context.sessions() as session:
        await session.execute(text("SELECT 1"))


async def _check(probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, timeout=_CHECK_TIMEOUT)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"
