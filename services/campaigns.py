"""Segments and campaigns, the use cases the admin API and the ``lifecycle`` CLI share:
segments with their sizes, an audience preview, creating a campaign, its dry run, its send
(a ``CampaignWorkflow``), its results; and the offer sender the worker wires into the
campaign activities."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.campaigns import CampaignOffer, SendOffers
from core.config import EngineConfig
from db.campaigns import (
    PENDING,
    UNREACHABLE,
    campaign_by_key,
    get_campaign,
    list_campaigns,
    read_offer_notices,
    recipient_ledger,
    recipient_states,
)
from db.engine import SessionFactory
from db.models import Campaign
from db.segments import load_facts, usage_group_descriptions
from domain.growth.campaigns import CampaignOutcome, campaign_offer_id, campaign_outcome
from domain.growth.segments import Member, Segment, SegmentRules, all_segments, members
from services.errors import ServiceError, WorkflowServiceUnavailable
from services.offers import make_offers
from workflows.campaign import CampaignInput, CampaignWorkflow, campaign_workflow_id
from workflows.messages import MakeOffer

DEFAULT_CONVERSION_DAYS = 30
SAMPLE_SIZE = 20


class InvalidCampaignField(ServiceError):
    """A campaign's input the config or the clock refuses; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownSegment(InvalidCampaignField):
    def __init__(self, segment_id: str, known: Sequence[str]) -> None:
        super().__init__(
            "segment", f"no segment {segment_id!r}; known: {', '.join(known) or 'none'}"
        )
        self.segment_id = segment_id


class UnknownCoupon(InvalidCampaignField):
    def __init__(self, coupon: str, known: Sequence[str]) -> None:
        super().__init__(
            "coupon",
            f"no coupon {coupon!r} in the config's [coupons]; known: {', '.join(known) or 'none'}",
        )
        self.coupon = coupon


class CampaignNotFound(ServiceError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id!r} does not exist")
        self.campaign_id = campaign_id


class CampaignConflict(ServiceError):
    """The campaign's state does not allow it (expired before it was sent, already sent)."""


class IdempotencyKeyReused(ServiceError):
    """The same Idempotency-Key came with another request."""


@dataclass(frozen=True)
class Preview:
    audience: int
    sample: list[Member]


async def segments(sessions: SessionFactory, config: EngineConfig) -> list[Segment]:
    """The config's segments, then one per usage group of the latest analytics run."""
    async with sessions() as session:
        groups = await usage_group_descriptions(session)
    return all_segments(config.segments, groups)


async def segment(sessions: SessionFactory, config: EngineConfig, segment_id: str) -> Segment:
    found = await segments(sessions, config)
    for candidate in found:
        if candidate.id == segment_id:
            return candidate
    raise UnknownSegment(segment_id, [s.id for s in found])


async def segment_sizes(
    sessions: SessionFactory, config: EngineConfig, now: datetime
) -> list[tuple[Segment, int]]:
    """Every segment with its size now (the customers' facts read once for all)."""
    found = await segments(sessions, config)
    async with sessions() as session:
        facts = await load_facts(session)
    return [(s, len(members(s.rules, facts, now))) for s in found]


async def preview(
    sessions: SessionFactory, rules: SegmentRules, now: datetime, sample: int = SAMPLE_SIZE
) -> Preview:
    async with sessions() as session:
        facts = await load_facts(session)
    found = members(rules, facts, now)
    return Preview(audience=len(found), sample=found[:sample])


def _digest(request: dict[str, Any]) -> str:
    text = json.dumps(request, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def create_campaign(
    sessions: SessionFactory,
    config: EngineConfig,
    *,
    segment_id: str,
    coupon: str,
    headline: str,
    expires_at: datetime | None,
    conversion_days: int,
    actor: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[Campaign, bool]:
    """A draft campaign with the segment's rules as they are now; answers it and whether it
    is new (a repeated Idempotency-Key answers the first one)."""
    request = {
        "segment_id": segment_id,
        "coupon": coupon,
        "headline": headline,
        "expires_at": expires_at,
        "conversion_days": conversion_days,
    }
    digest = _digest(request)
    if idempotency_key is not None:
        existing = await _by_key(sessions, idempotency_key, digest)
        if existing is not None:
            return existing, False
    chosen = await segment(sessions, config, segment_id)
    if coupon not in config.catalog.coupons:
        raise UnknownCoupon(coupon, sorted(config.catalog.coupons))
    if expires_at is not None and expires_at <= now:
        raise InvalidCampaignField("expires_at", "must be in the future")
    campaign = Campaign(
        id=str(uuid.uuid4()),
        segment_id=chosen.id,
        segment_name=chosen.name,
        rules=chosen.rules.as_dict(),
        coupon=coupon,
        headline=headline,
        expires_at=expires_at,
        conversion_days=conversion_days,
        status="draft",
        created_by=actor,
        created_at=now,
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    try:
        async with sessions.begin() as session:
            session.add(campaign)
    except IntegrityError:
        # The same key, created by a request running at the same time.
        if idempotency_key is None:
            raise
        existing = await _by_key(sessions, idempotency_key, digest)
        if existing is None:
            raise
        return existing, False
    return campaign, True


async def _by_key(sessions: SessionFactory, key: str, digest: str) -> Campaign | None:
    async with sessions() as session:
        existing = await campaign_by_key(session, key)
    if existing is not None and existing.request_digest != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with another request; use a new key"
        )
    return existing


async def campaign_or_error(sessions: SessionFactory, campaign_id: str) -> Campaign:
    async with sessions() as session:
        campaign = await get_campaign(session, campaign_id)
    if campaign is None:
        raise CampaignNotFound(campaign_id)
    return campaign


async def list_all(sessions: SessionFactory) -> list[Campaign]:
    async with sessions() as session:
        return await list_campaigns(session)


async def dry_run(
    sessions: SessionFactory, campaign_id: str, now: datetime, sample: int = SAMPLE_SIZE
) -> tuple[Campaign, Preview]:
    """Who the send would reach now, with what matched; nothing is sent and no recipient
    is written (the campaign keeps the dry run's time and size)."""
    campaign = await campaign_or_error(sessions, campaign_id)
    if campaign.audience_selected_at is not None:
        raise CampaignConflict(f"campaign {campaign_id!r} is already sent; see its results")
    found = await preview(sessions, SegmentRules.from_dict(campaign.rules), now, sample)
    async with sessions.begin() as session:
        row = await get_campaign(session, campaign_id)
        if row is not None:
            row.dry_run_at = now
            row.dry_run_audience = found.audience
            campaign = row
    return campaign, found


async def send_campaign(
    sessions: SessionFactory, temporal: Client, task_queue: str, campaign_id: str, now: datetime
) -> Campaign:
    """Start the campaign's send (a workflow; safe to repeat: one workflow per campaign,
    and its recipients are chosen once)."""
    campaign = await campaign_or_error(sessions, campaign_id)
    expired = campaign.expires_at is not None and campaign.expires_at <= now
    if campaign.audience_selected_at is None and expired:
        raise CampaignConflict(f"campaign {campaign_id!r} expired before it was sent")
    try:
        await temporal.start_workflow(
            CampaignWorkflow.run,
            CampaignInput(campaign_id=campaign_id),
            id=campaign_workflow_id(campaign_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A completed send is not started again; a failed or terminated one is (its
            # recipients already signalled stay so).
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        pass
    except (RPCError, RuntimeError) as exc:
        # RuntimeError: a lazy client that cannot connect at all.
        raise WorkflowServiceUnavailable(str(exc)) from exc
    async with sessions.begin() as session:
        row = await get_campaign(session, campaign_id)
        assert row is not None
        if row.send_requested_at is None:
            row.send_requested_at = now
        if row.status == "draft":
            row.status = "sending"
        return row


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    outcome: CampaignOutcome
    # Recipients whose offer is still to be signalled.
    pending: int


async def results(sessions: SessionFactory, campaign_id: str) -> CampaignResults:
    campaign = await campaign_or_error(sessions, campaign_id)
    async with sessions() as session:
        states = await recipient_states(session, campaign_id)
        rows = await recipient_ledger(session, campaign)
        read = await read_offer_notices(session, campaign)
    outcome = campaign_outcome(
        campaign_offer_id(campaign_id),
        audience=campaign.audience or sum(states.values()),
        unreachable=states.get(UNREACHABLE, 0),
        rows=rows,
        read_notices=read,
        conversion_days=campaign.conversion_days,
    )
    return CampaignResults(campaign, outcome, pending=states.get(PENDING, 0))


def offer_sender(client: Client) -> SendOffers:
    """The campaign activities' way to the customers' workflows (``make_offer``)."""

    async def send(customers: Sequence[str], offer: CampaignOffer) -> list[str]:
        message = MakeOffer(
            offer_id=offer.offer_id,
            source="campaign",
            headline=offer.headline,
            coupon=offer.coupon,
            expires_at=offer.expires_at,
            actor=offer.actor,
        )
        return await make_offers(client, [(c, message) for c in customers])

    return send
