"""Segments and campaigns for the admin API: the use cases of ``services.campaigns``, their
answers as views and their refusals as problems."""

from __future__ import annotations

from datetime import datetime

from api.campaigns.schemas import (
    CampaignRequest,
    CampaignResultsView,
    CampaignView,
    MemberView,
    PreviewView,
    ResultsView,
    SegmentsView,
    SegmentView,
    SendView,
)
from api.context import AppContext
from api.errors import FieldError, Problem, not_found, validation_error
from api.lifecycle_client import temporal_unavailable
from db.models import Campaign
from domain.growth.campaigns import campaign_offer_id
from domain.growth.segments import Member, Segment
from services import campaigns
from services.errors import WorkflowServiceUnavailable


def _segment_view(segment: Segment, size: int | None = None) -> SegmentView:
    return SegmentView(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        computed=segment.computed,
        rules=segment.rules.as_dict(),
        size=size,
    )


def _member_view(member: Member, now: datetime) -> MemberView:
    facts = member.facts
    return MemberView(
        customer_id=facts.customer_id,
        plan=facts.plan,
        status=facts.status,
        tenure_days=facts.tenure_days(now),
        matched=member.matched,
    )


def campaign_view(campaign: Campaign) -> CampaignView:
    return CampaignView(
        id=campaign.id,
        offer_id=campaign_offer_id(campaign.id),
        segment_id=campaign.segment_id,
        segment_name=campaign.segment_name,
        rules=campaign.rules,
        coupon=campaign.coupon,
        headline=campaign.headline,
        expires_at=campaign.expires_at,
        conversion_days=campaign.conversion_days,
        status=campaign.status,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        dry_run_at=campaign.dry_run_at,
        dry_run_audience=campaign.dry_run_audience,
        send_requested_at=campaign.send_requested_at,
        audience=campaign.audience,
        sent_at=campaign.sent_at,
    )


def _problem(exc: campaigns.ServiceError) -> Problem:
    if isinstance(exc, campaigns.InvalidCampaignField):
        return validation_error(exc.field, str(exc))
    if isinstance(exc, campaigns.CampaignNotFound):
        return not_found("campaign", exc.campaign_id)
    if isinstance(exc, campaigns.CampaignConflict):
        return Problem(409, str(exc), type="campaign-state")
    if isinstance(exc, campaigns.IdempotencyKeyReused):
        return Problem(
            422,
            str(exc),
            type="idempotency-key-reused",
            errors=[FieldError("Idempotency-Key", str(exc))],
        )
    if isinstance(exc, WorkflowServiceUnavailable):
        return temporal_unavailable(exc)
    raise exc


async def segments(context: AppContext, now: datetime) -> SegmentsView:
    sizes = await campaigns.segment_sizes(context.sessions, context.config, now)
    return SegmentsView(data=[_segment_view(s, n) for s, n in sizes], as_of=now)


async def preview(context: AppContext, segment_id: str, now: datetime, sample: int) -> PreviewView:
    try:
        segment = await campaigns.segment(context.sessions, context.config, segment_id)
    except campaigns.UnknownSegment:
        raise not_found("segment", segment_id) from None
    found = await campaigns.preview(context.sessions, segment.rules, now, sample)
    return PreviewView(
        segment=_segment_view(segment, found.audience),
        audience=found.audience,
        sample=[_member_view(m, now) for m in found.sample],
        as_of=now,
    )


async def create(
    context: AppContext,
    body: CampaignRequest,
    *,
    actor: str,
    idempotency_key: str | None,
    now: datetime,
) -> tuple[CampaignView, bool]:
    try:
        campaign, created = await campaigns.create_campaign(
            context.sessions,
            context.config,
            segment_id=body.segment,
            coupon=body.coupon,
            headline=body.headline,
            expires_at=body.expires_at,
            conversion_days=body.conversion_days,
            actor=actor,
            now=now,
            idempotency_key=idempotency_key,
        )
    except campaigns.ServiceError as exc:
        raise _problem(exc) from None
    return campaign_view(campaign), created


async def listing(context: AppContext) -> list[CampaignView]:
    return [campaign_view(c) for c in await campaigns.list_all(context.sessions)]


async def results(context: AppContext, campaign_id: str) -> CampaignResultsView:
    try:
        found = await campaigns.results(context.sessions, campaign_id)
    except campaigns.ServiceError as exc:
        raise _problem(exc) from None
    o = found.outcome
    return CampaignResultsView(
        campaign=campaign_view(found.campaign),
        results=ResultsView(
            audience=o.audience,
            pending=found.pending,
            unreachable=o.unreachable,
            sent=o.sent,
            not_sent=o.not_sent,
            opened=o.opened,
            accepted=o.accepted,
            converted_to_paid=o.converted_to_paid,
            converted=o.converted,
            conversion_rate=o.conversion_rate,
            mrr_gained_cents=o.mrr_gained_cents,
        ),
    )


async def send(
    context: AppContext, campaign_id: str, *, dry_run: bool, now: datetime, sample: int
) -> SendView:
    try:
        if dry_run:
            campaign, found = await campaigns.dry_run(context.sessions, campaign_id, now, sample)
            return SendView(
                campaign=campaign_view(campaign),
                dry_run=True,
                audience=found.audience,
                sample=[_member_view(m, now) for m in found.sample],
            )
        campaign = await campaigns.send_campaign(
            context.sessions,
            context.temporal,
            context.settings.temporal_task_queue,
            campaign_id,
            now,
        )
    except campaigns.ServiceError as exc:
        raise _problem(exc) from None
    return SendView(campaign=campaign_view(campaign), dry_run=False, audience=campaign.audience)
