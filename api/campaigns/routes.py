"""HTTP routes of segments and campaigns (scope ``admin``): segment sizes and an audience
preview; campaigns that send an offer to a segment through each customer's workflow, once
per customer, with a dry run first; their results."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from api.approvals.service import coupon_grant_gate
from api.auth import Principal, require_admin
from api.campaigns import service
from api.campaigns.schemas import (
    CampaignRequest,
    CampaignResultsView,
    CampaignView,
    PreviewView,
    SegmentsView,
    SendRequest,
    SendView,
)
from api.context import AppContext, get_context
from api.errors import problem_responses
from api.schemas import ListEnvelope
from core.clock import utcnow

router = APIRouter(prefix="/v1/admin", tags=["campaigns"], dependencies=[Depends(require_admin)])

Sample = Query(default=20, ge=0, le=200, description="How many members to show")


@router.get("/segments", response_model=SegmentsView)
async def list_segments(context: AppContext = Depends(get_context)) -> SegmentsView:
    """The config's segments and one per usage group of the latest analytics run, each
    with how many customers are in it now."""
    return await service.segments(context, utcnow())


@router.get("/segments/{segment_id}/preview", response_model=PreviewView)
async def preview_segment(
    segment_id: str, sample: int = Sample, context: AppContext = Depends(get_context)
) -> PreviewView:
    """Who is in the segment now: the count and a sample, with the facts that matched."""
    return await service.preview(context, segment_id, utcnow(), sample)


@router.post(
    "/campaigns",
    response_model=CampaignView,
    status_code=201,
    responses={200: {"description": "The campaign a repeated Idempotency-Key created"}},
)
async def create_campaign(
    body: CampaignRequest,
    response: Response,
    idempotency_key: str | None = Header(
        default=None,
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat the request with the same key to get the first campaign back",
    ),
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> CampaignView:
    """A draft campaign: the segment's rules as they are now, the coupon and the headline.
    Nothing is sent until ``POST /v1/admin/campaigns/{id}/send``."""
    view, created = await service.create(
        context, body, actor=principal.actor, idempotency_key=idempotency_key, now=utcnow()
    )
    if not created:
        response.status_code = 200
    return view


@router.get("/campaigns", response_model=ListEnvelope[CampaignView])
async def list_campaigns(context: AppContext = Depends(get_context)) -> ListEnvelope[CampaignView]:
    """The latest 100 campaigns, newest first."""
    return ListEnvelope(data=await service.listing(context))


@router.get("/campaigns/{campaign_id}", response_model=CampaignResultsView)
async def campaign_results(
    campaign_id: str, context: AppContext = Depends(get_context)
) -> CampaignResultsView:
    """The campaign and its results: sent, not sent, opened (the in-app notice read; email
    opens are not tracked), converted and the MRR the converted customers gained."""
    return await service.results(context, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/send",
    response_model=SendView,
    status_code=202,
    responses={
        200: {"description": "The dry run: who would get the offer"},
        **problem_responses(409, 503),
    },
)
async def send_campaign(
    campaign_id: str,
    response: Response,
    body: SendRequest | None = None,
    sample: int = Sample,
    reason: str | None = Query(
        default=None,
        max_length=500,
        description="Why: required when [approvals] coupon_grants makes it wait for a second admin",
    ),
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> SendView | JSONResponse:
    """Send the offer to the segment (202: it goes out in the background, batch by batch,
    once per customer; repeating the call starts nothing new). With ``dry_run``: who would
    get it now, with what matched; nothing is sent or recorded but the dry run's size.
    Under ``[approvals] coupon_grants`` a send answers 202 with an approval request
    (``Location: /v1/admin/approvals/{id}``): it goes out once a second admin approves."""
    dry_run = body.dry_run if body is not None else False
    if not dry_run:
        pending = await coupon_grant_gate(context, principal, campaign_id, reason)
        if pending is not None:
            return pending
    view = await service.send(context, campaign_id, dry_run=dry_run, now=utcnow(), sample=sample)
    if dry_run:
        response.status_code = 200
    return view
