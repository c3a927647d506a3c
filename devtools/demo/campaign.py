"""The demo's campaign: at the end of the seeded history an admin sends the config's
expired-trial segment a comeback offer, and the first recipient takes it, so the
dashboard's campaign results show a send working end to end."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from db.models import CampaignRecipient
from devtools.demo.world import World
from services.campaigns import create_campaign, segment_sizes, send_campaign
from services.customer_workflows import customer_handle
from workflows.campaign import CampaignRun, campaign_workflow_id
from workflows.messages import AcceptOffer

SEGMENT = "expired-trials"
ADMIN = "admin:demo-seed"


async def send_demo_campaign(world: World, now: datetime) -> CampaignRun | None:
    """Create and send the campaign (None when the config has no such segment or coupon, or
    nobody is in it), wait for the send, and have its first recipient take the offer."""
    engine = world.engine
    config, sessions = engine.config, engine.sessions
    coupon = next(iter(sorted(set(config.catalog.coupons) - {"WINBACK20"})), None)
    sizes = {s.id: n for s, n in await segment_sizes(sessions, config, now)}
    if coupon is None or not sizes.get(SEGMENT):
        return None
    percent = config.catalog.coupons[coupon].percent_off
    campaign, _ = await create_campaign(
        sessions,
        config,
        segment_id=SEGMENT,
        coupon=coupon,
        headline=f"Come back: {percent}% off your first month",
        expires_at=now + timedelta(days=30),
        conversion_days=30,
        actor=ADMIN,
        now=now,
    )
    await send_campaign(sessions, engine.temporal, engine.task_queue, campaign.id, now)
    handle = engine.temporal.get_workflow_handle(
        campaign_workflow_id(campaign.id), result_type=CampaignRun
    )
    run = await handle.result()
    async with sessions() as session:
        reached = list(
            await session.scalars(
                select(CampaignRecipient.customer_id)
                .where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.state == "signalled",
                )
                .order_by(CampaignRecipient.customer_id)
            )
        )
    offer_id = f"campaign:{campaign.id}"
    for customer_id in reached[:1]:
        # An offer that no longer fits the customer is refused by its workflow: no take-up.
        with contextlib.suppress(WorkflowUpdateFailedError):
            customer: WorkflowHandle[Any, Any] = customer_handle(engine.temporal, customer_id)
            await customer.execute_update(
                "accept_offer",
                AcceptOffer(kind="coupon", actor="app:demo-seed", offer_id=offer_id),
            )
    return run
