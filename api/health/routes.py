"""HTTP routes of the liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.context import AppContext, get_context
from api.health import service

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. Orchestrators restart it when this fails."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is not reachable"}})
async def readyz(context: AppContext = Depends(get_context)) -> JSONResponse:
    """The database and Temporal answer; load balancers send traffic only then."""
    checks = await service.readiness(context)
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )
