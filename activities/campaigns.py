"""The steps of a campaign's send (``workflows.campaign``): choose the audience once, offer
it batch by batch through the customers' workflows, mark the campaign sent.

Once per customer: each recipient's row (unique per campaign and customer) is written
before its workflow is signalled and marked after. A crash between the signal and the mark
leaves the row pending, so the retried batch signals again, with the same offer id, which
the customer's workflow ignores the second time; a crash before the signal just signals
later. Nothing else ever adds a recipient, so no customer can be offered twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from temporalio import activity

from db.campaigns import (
    claim_pending,
    finish_campaign,
    get_campaign,
    mark_recipients,
    record_audience,
)
from db.engine import SessionFactory
from db.segments import load_facts
from domain.growth.campaigns import campaign_offer_id
from domain.growth.segments import SegmentRules, members


@dataclass(frozen=True)
class CampaignOffer:
    """What each recipient's workflow is sent (``workflows.messages.MakeOffer``, built by
    the sender the worker wires in: activities do not import workflows)."""

    offer_id: str
    headline: str
    coupon: str
    expires_at: datetime | None
    actor: str


# Sends the offer to each customer's workflow; answers the customers whose workflow heard
# it (a closed one is skipped); raises for anything else (the batch is retried whole).
SendOffers = Callable[[Sequence[str], CampaignOffer], Awaitable[list[str]]]


@dataclass(frozen=True)
class CampaignStep:
    campaign_id: str
    # Workflow time: a retried step computes the same tenure and writes the same times.
    at: datetime


@dataclass(frozen=True)
class CampaignBatch:
    campaign_id: str
    at: datetime
    size: int = 200


class CampaignActivities:
    def __init__(self, sessions: SessionFactory, send: SendOffers) -> None:
        self._sessions = sessions
        self._send = send

    @activity.defn(name="choose_campaign_audience")
    async def choose_audience(self, step: CampaignStep) -> int:
        async with self._sessions.begin() as session:
            campaign = await get_campaign(session, step.campaign_id)
            if campaign is None:
                raise LookupError(f"campaign {step.campaign_id!r} does not exist")
            if campaign.audience_selected_at is not None:
                return campaign.audience or 0
            rules = SegmentRules.from_dict(campaign.rules)
            chosen = members(rules, await load_facts(session), step.at)
            return await record_audience(session, step.campaign_id, chosen, step.at)

    @activity.defn(name="send_campaign_batch")
    async def send_batch(self, batch: CampaignBatch) -> int:
        """Offer the next pending recipients; answers how many were handled (0: none
        left). The rows stay locked while their workflows are signalled."""
        async with self._sessions.begin() as session:
            campaign = await get_campaign(session, batch.campaign_id)
            if campaign is None:
                raise LookupError(f"campaign {batch.campaign_id!r} does not exist")
            customers = await claim_pending(session, batch.campaign_id, batch.size)
            if not customers:
                return 0
            offer = CampaignOffer(
                offer_id=campaign_offer_id(campaign.id),
                headline=campaign.headline,
                coupon=campaign.coupon,
                expires_at=campaign.expires_at,
                actor=campaign.created_by,
            )
            reached = await self._send(customers, offer)
            if activity.in_activity():
                activity.heartbeat(len(customers))
            heard = set(reached)
            await mark_recipients(
                session,
                batch.campaign_id,
                signalled=[c for c in customers if c in heard],
                unreachable=[c for c in customers if c not in heard],
                at=batch.at,
            )
            return len(customers)

    @activity.defn(name="finish_campaign")
    async def finish(self, step: CampaignStep) -> None:
        async with self._sessions.begin() as session:
            await finish_campaign(session, step.campaign_id, step.at)
