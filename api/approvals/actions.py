"""What an approved request runs: the same use case as the direct call, with the
requesting key as its actor (the ledger's ``approval_*`` rows name the approver)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from api.admin import service as admin
from api.admin.schemas import TrialExtensionRequest
from api.campaigns import service as campaigns
from api.context import AppContext
from api.usage import service as usage
from core.clock import utcnow
from domain.approvals import Action

# (context, the customer the request names (None: a campaign's), parameters, actor)
Runner = Callable[[AppContext, str | None, Mapping[str, Any], str], Awaitable[dict[str, Any]]]


async def _extend_trial(
    context: AppContext, customer_id: str | None, parameters: Mapping[str, Any], actor: str
) -> dict[str, Any]:
    body = TrialExtensionRequest(days=parameters["days"], reason=parameters["reason"])
    assert customer_id is not None
    view = await admin.extend_trial(context, customer_id, body, actor)
    return view.model_dump(mode="json")


async def _override_limits(
    context: AppContext, customer_id: str | None, parameters: Mapping[str, Any], actor: str
) -> dict[str, Any]:
    assert customer_id is not None
    view = await usage.override_limits(context, customer_id, dict(parameters["limits"]), actor)
    return view.model_dump(mode="json")


async def _erase(
    context: AppContext, customer_id: str | None, parameters: Mapping[str, Any], actor: str
) -> dict[str, Any]:
    assert customer_id is not None
    view = await admin.erase_customer(context, customer_id, actor)
    return view.model_dump(mode="json")


async def _send_campaign(
    context: AppContext, customer_id: str | None, parameters: Mapping[str, Any], actor: str
) -> dict[str, Any]:
    view = await campaigns.send(
        context, parameters["campaign_id"], dry_run=False, now=utcnow(), sample=0
    )
    return view.model_dump(mode="json")


RUNNERS: dict[Action, Runner] = {
    Action.TRIAL_EXTENSION: _extend_trial,
    Action.LIMIT_OVERRIDE: _override_limits,
    Action.ERASURE: _erase,
    Action.COUPON_GRANT: _send_campaign,
}
