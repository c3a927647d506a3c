"""Maker-checker in the API: the gates the sensitive admin endpoints call before acting
(202 with a stored request when ``[approvals]`` says a second admin must agree), and the
decisions, which run an approved action once through ``api.approvals.actions``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from api.approvals.actions import RUNNERS
from api.approvals.schemas import ApprovalView
from api.auth import Principal
from api.context import AppContext
from api.customers.service import customer_or_404
from api.errors import FieldError, Problem
from core.clock import utcnow
from domain.approvals import Action, ApprovalStatus
from services import approvals
from services.approvals import Admin, Approval

APPROVALS_PATH = "/v1/admin/approvals"


def _admin(principal: Principal) -> Admin:
    return Admin(actor=principal.actor, key_id=principal.key_id)


def approval_view(approval: Approval) -> ApprovalView:
    return ApprovalView.model_validate(approval, from_attributes=True)


def _require_reason(reason: str | None) -> str:
    if not reason:
        raise Problem(
            422,
            "reason: this action needs a second admin's approval; say why it is needed",
            type="validation-error",
            errors=[FieldError("reason", "required when the action needs approval")],
        )
    return reason


async def _pending(
    context: AppContext,
    principal: Principal,
    action: Action,
    customer_id: str | None,
    parameters: dict[str, Any],
    reason: str,
) -> JSONResponse:
    stored = await approvals.request_approval(
        context.sessions,
        action=action,
        customer_id=customer_id,
        parameters=parameters,
        reason=reason,
        requester=_admin(principal),
        now=utcnow(),
    )
    return JSONResponse(
        approval_view(stored).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"{APPROVALS_PATH}/{stored.id}"},
    )


async def trial_extension_gate(
    context: AppContext, principal: Principal, customer_id: str, days: int, reason: str
) -> JSONResponse | None:
    if not context.config.approvals.trial_extension_needs_approval(days):
        return None
    await customer_or_404(context, customer_id)
    parameters = {"days": days, "reason": reason}
    return await _pending(
        context, principal, Action.TRIAL_EXTENSION, customer_id, parameters, reason
    )


async def limit_override_gate(
    context: AppContext,
    principal: Principal,
    customer_id: str,
    limits: Mapping[str, int | None],
    reason: str | None,
) -> JSONResponse | None:
    """Called once the overrides are known valid. The plan's limits are the customer's
    plan's in the catalog (add-ons bought are not counted: they are the customer's own
    purchases, an override above the plan is the admin's grant)."""
    config = context.config.approvals
    if not config.limit_overrides_above_plan:
        return None
    customer = await customer_or_404(context, customer_id)
    plan = context.config.catalog.plans.get(customer.plan)
    plan_limits = plan.limits if plan is not None else {}
    if not config.limit_override_needs_approval(limits, plan_limits):
        return None
    parameters = {"limits": dict(limits)}
    return await _pending(
        context,
        principal,
        Action.LIMIT_OVERRIDE,
        customer_id,
        parameters,
        _require_reason(reason),
    )


async def erasure_gate(
    context: AppContext, principal: Principal, customer_id: str, reason: str | None
) -> JSONResponse | None:
    if not context.config.approvals.erasure:
        return None
    await customer_or_404(context, customer_id)
    return await _pending(
        context, principal, Action.ERASURE, customer_id, {}, _require_reason(reason)
    )


async def coupon_grant_gate(
    context: AppContext, principal: Principal, campaign_id: str, reason: str | None
) -> JSONResponse | None:
    """A campaign's send (its coupon to a whole segment) under ``[approvals]
    coupon_grants``; the campaign must exist and be sendable when it is approved."""
    if not context.config.approvals.coupon_grants:
        return None
    parameters = {"campaign_id": campaign_id}
    return await _pending(
        context, principal, Action.COUPON_GRANT, None, parameters, _require_reason(reason)
    )


def _problem(exc: approvals.ServiceError) -> Problem:
    if isinstance(exc, approvals.ApprovalNotFound):
        return Problem(404, str(exc), type="not-found")
    if isinstance(exc, approvals.SelfApprovalRefused):
        return Problem(403, str(exc), type="forbidden")
    if isinstance(exc, approvals.ApprovalAlreadyDecided):
        return Problem(409, str(exc), type="conflict", extra={"request_status": exc.status})
    raise exc


async def listing(
    context: AppContext, status: ApprovalStatus | None, limit: int
) -> list[ApprovalView]:
    found = await approvals.approvals(context.sessions, status=status, limit=limit)
    return [approval_view(a) for a in found]


async def one(context: AppContext, request_id: str) -> ApprovalView:
    try:
        return approval_view(await approvals.approval(context.sessions, request_id))
    except approvals.ServiceError as exc:
        raise _problem(exc) from None


async def reject(
    context: AppContext, principal: Principal, request_id: str, note: str | None
) -> ApprovalView:
    try:
        decided = await approvals.decide(
            context.sessions,
            request_id,
            approve=False,
            checker=_admin(principal),
            note=note,
            now=utcnow(),
        )
    except approvals.ServiceError as exc:
        raise _problem(exc) from None
    return approval_view(decided)


async def approve(
    context: AppContext, principal: Principal, request_id: str, note: str | None
) -> ApprovalView:
    """Approve, then run the action once: ``executed`` with its answer, or ``failed`` with
    the problem it answered (the request is not run again; ask anew)."""
    try:
        decided = await approvals.decide(
            context.sessions,
            request_id,
            approve=True,
            checker=_admin(principal),
            note=note,
            now=utcnow(),
        )
    except approvals.ServiceError as exc:
        raise _problem(exc) from None
    runner = RUNNERS[Action(decided.action)]
    try:
        result = await runner(
            context, decided.customer_id, decided.parameters, decided.requested_by
        )
    except Problem as problem:
        done = await approvals.record_outcome(
            context.sessions, request_id, result=None, error=problem.detail, now=utcnow()
        )
        return approval_view(done)
    except Exception as exc:
        # The outcome is unknown (the workflow service may have taken the command): record
        # that, and answer the error as the direct call would.
        await approvals.record_outcome(
            context.sessions,
            request_id,
            result=None,
            error=f"did not complete ({type(exc).__name__}): check the customer before "
            "asking again",
            now=utcnow(),
        )
        raise
    done = await approvals.record_outcome(
        context.sessions, request_id, result=result, error=None, now=utcnow()
    )
    return approval_view(done)
