"""Campaigns and their recipients: the audience chosen once, recipients written before their
offer is signalled and marked after, and what the results read from the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import Campaign, CampaignRecipient, LedgerEvent, Notification
from domain.growth.campaigns import LedgerFact, campaign_offer_id
from domain.growth.segments import Member

PENDING, SIGNALLED, UNREACHABLE = "pending", "signalled", "unreachable"
# The ledger rows the results read (the offer's own, conversions, MRR changes).
_OFFER_KINDS = ("offer_sent", "offer_not_sent", "offer_accepted")


async def get_campaign(session: AsyncSession, campaign_id: str) -> Campaign | None:
    return await session.get(Campaign, campaign_id)


async def campaign_by_key(session: AsyncSession, idempotency_key: str) -> Campaign | None:
    return await session.scalar(select(Campaign).where(Campaign.idempotency_key == idempotency_key))


async def list_campaigns(session: AsyncSession, limit: int = 100) -> list[Campaign]:
    return list(
        await session.scalars(
            select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id).limit(limit)
        )
    )


async def record_audience(
    session: AsyncSession, campaign_id: str, members: Sequence[Member], at: datetime
) -> int:
    """Write the recipients and mark the audience chosen, in the caller's transaction; a
    campaign whose audience is already chosen keeps it (a retried step adds nobody who
    joined the segment since). Answers the audience's size."""
    # Locked and read afresh (not from the session's identity map): an attempt that waited
    # on the lock sees the audience another one chose.
    campaign = await session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if campaign is None:
        raise LookupError(f"campaign {campaign_id!r} does not exist")
    if campaign.audience_selected_at is not None:
        return campaign.audience or 0
    rows = [
        {
            "campaign_id": campaign_id,
            "customer_id": m.facts.customer_id,
            "matched": m.matched,
            "state": PENDING,
            "created_at": at,
        }
        for m in members
    ]
    insert = insert_for(session)
    for start in range(0, len(rows), 2000):
        statement = insert(CampaignRecipient).values(rows[start : start + 2000])
        await session.execute(
            statement.on_conflict_do_nothing(index_elements=["campaign_id", "customer_id"])
        )
    campaign.audience_selected_at = at
    campaign.audience = len(rows)
    campaign.status = "sending"
    return len(rows)


async def claim_pending(session: AsyncSession, campaign_id: str, limit: int) -> list[str]:
    """Recipients still to signal, locked until the caller's transaction ends: a second
    attempt running at the same time (a timed-out one not yet dead) skips them."""
    return list(
        await session.scalars(
            select(CampaignRecipient.customer_id)
            .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.state == PENDING)
            .order_by(CampaignRecipient.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


async def mark_recipients(
    session: AsyncSession,
    campaign_id: str,
    *,
    signalled: Sequence[str],
    unreachable: Sequence[str],
    at: datetime,
) -> None:
    for state, customers in ((SIGNALLED, signalled), (UNREACHABLE, unreachable)):
        if customers:
            await session.execute(
                update(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.customer_id.in_(customers),
                )
                .values(state=state, signalled_at=at)
            )


async def finish_campaign(session: AsyncSession, campaign_id: str, at: datetime) -> None:
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.sent_at.is_(None))
        .values(status="sent", sent_at=at)
    )


async def recipient_states(session: AsyncSession, campaign_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(CampaignRecipient.state, func.count())
        .where(CampaignRecipient.campaign_id == campaign_id)
        .group_by(CampaignRecipient.state)
    )
    return {state: int(n) for state, n in rows}


async def recipient_ledger(session: AsyncSession, campaign: Campaign) -> list[LedgerFact]:
    """The recipients' ledger rows since the send began: the campaign's offer rows,
    conversions and any MRR change."""
    offer_id = campaign_offer_id(campaign.id)
    recipients = select(CampaignRecipient.customer_id).where(
        CampaignRecipient.campaign_id == campaign.id
    )
    row_offer = LedgerEvent.data["offer_id"].as_string()
    since = campaign.audience_selected_at or campaign.created_at
    rows = await session.execute(
        select(
            LedgerEvent.customer_id,
            LedgerEvent.kind,
            LedgerEvent.occurred_at,
            row_offer,
            LedgerEvent.mrr_delta_cents,
        ).where(
            LedgerEvent.customer_id.in_(recipients),
            LedgerEvent.occurred_at >= since,
            (LedgerEvent.kind.in_(_OFFER_KINDS) & (row_offer == offer_id))
            | (LedgerEvent.kind == "trial_converted")
            | (LedgerEvent.mrr_delta_cents != 0),
        )
    )
    return [
        LedgerFact(cid, kind, occurred_at, offer, int(delta or 0))
        for cid, kind, occurred_at, offer, delta in rows
    ]


async def read_offer_notices(session: AsyncSession, campaign: Campaign) -> list[str]:
    """Recipients who read the campaign's in-app notice."""
    recipients = select(CampaignRecipient.customer_id).where(
        CampaignRecipient.campaign_id == campaign.id
    )
    rows = await session.scalars(
        select(Notification.customer_id).where(
            Notification.customer_id.in_(recipients),
            Notification.kind == "offer",
            Notification.data["offer_id"].as_string() == campaign_offer_id(campaign.id),
            Notification.read_at.is_not(None),
        )
    )
    return list(set(rows))
