"""HTTP routes of usage metering: ingestion, entitlement checks, the usage views and admin
limit overrides. Thin: each hands its use case to ``api.usage`` and its notices to
``api.usage.signals``. The two hot operations (``POST /v1/usage`` and the entitlement
check) are served by ``api.usage.hot`` in front of the framework, with the same use case;
these declarations carry their contract (and serve them when the hot routes are off)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import StrictInt

from api.approvals.schemas import APPROVAL_PENDING
from api.approvals.service import limit_override_gate
from api.auth import Principal, require_admin, require_app
from api.context import AppContext, get_context
from api.usage import entitlements, ingest, service
from api.usage.schemas import (
    EntitlementCheck,
    EntitlementDecision,
    FeatureDecision,
    LimitsView,
    UsageBatch,
    UsageHistoryView,
    UsageIngestResult,
    UsageView,
)
from api.usage.signals import schedule_signals
from core.clock import utcnow

router = APIRouter(tags=["usage"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.post("/v1/usage", response_model=UsageIngestResult)
async def ingest_usage(
    body: UsageBatch,
    background: BackgroundTasks,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> UsageIngestResult:
    """Record up to 1,000 usage events. Each event is validated on its own: bad ones are
    listed in ``rejected`` and the rest recorded. A key already recorded for the customer
    (in any request) counts once. Recording never fails because of a limit."""
    result, signal = await ingest.ingest(context, body, utcnow())
    schedule_signals(background, context, signal)
    return result


@router.post(
    "/v1/customers/{customer_id}/entitlements/check",
    response_model=EntitlementDecision | FeatureDecision,
)
async def check_entitlement(
    customer_id: str,
    body: EntitlementCheck,
    background: BackgroundTasks,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> EntitlementDecision | FeatureDecision:
    """``{metric, quantity, consume?, idempotency_key?}``: whether ``quantity`` more is
    allowed (the result must not be ``blocked``), and the state with it applied; with
    ``consume`` it is recorded in the same atomic step. ``{feature}``: whether it is on."""
    decision, signal = await entitlements.check(context, customer_id, body, utcnow())
    if signal:
        schedule_signals(background, context, [customer_id])
    return decision


@router.get("/v1/customers/{customer_id}/usage", response_model=UsageView)
async def customer_usage(
    customer_id: str,
    background: BackgroundTasks,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> UsageView:
    """Per metric: used, limit, remaining, state and the forecast for the period end."""
    view, signal = await service.usage_view(context, customer_id, utcnow())
    if signal:
        schedule_signals(background, context, [customer_id])
    return view


@router.get("/v1/customers/{customer_id}/usage/history", response_model=UsageHistoryView)
async def usage_history(
    customer_id: str,
    metric: str | None = Query(default=None, max_length=32, description="Default: all"),
    periods: int = Query(default=6, ge=1, le=36, description="How many periods back"),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> UsageHistoryView:
    """Per-period totals (newest first) and the daily series since the oldest period
    listed, for charts. The chatbots gauge has one never-resetting period."""
    return await service.usage_history(context, customer_id, metric, periods, utcnow())


@admin_router.get("/customers/{customer_id}/limits", response_model=LimitsView)
async def get_limits(customer_id: str, context: AppContext = Depends(get_context)) -> LimitsView:
    return await service.limits_of(context, customer_id)


@admin_router.put(
    "/customers/{customer_id}/limits", response_model=LimitsView, responses=APPROVAL_PENDING
)
async def put_limits(
    customer_id: str,
    body: dict[str, StrictInt | None] = Body(
        examples=[{"messages": 250000, "chatbots": 40, "api_calls": None}]
    ),
    reason: str | None = Query(
        default=None,
        min_length=1,
        max_length=500,
        description="Why: required when [approvals] makes an override above the plan wait "
        "for a second admin",
    ),
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> LimitsView | JSONResponse:
    """Override limits (Enterprise contracts): ``{metric: value}`` replaces the metric's
    limit for the period, ``null`` makes it unlimited. Metrics not named keep theirs;
    ``DELETE .../limits/{metric}`` goes back to plan + add-ons. With ``[approvals]
    limit_overrides_above_plan``, one above the plan answers 202: an approval request."""
    service.check_overrides(body)
    pending = await limit_override_gate(context, principal, customer_id, body, reason)
    if pending is not None:
        return pending
    return await service.override_limits(context, customer_id, body, principal.actor)


@admin_router.delete("/customers/{customer_id}/limits/{metric}", response_model=LimitsView)
async def delete_limit(
    customer_id: str,
    metric: str,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> LimitsView:
    """Remove a metric's override: its limit is the plan's plus add-ons again."""
    return await service.remove_override(context, customer_id, metric, principal.actor)
