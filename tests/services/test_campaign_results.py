"""A campaign's results read from the database on a scripted ledger: sent, not sent,
unreachable, opened (the in-app notice read), accepted, converted to paid within the window
and the MRR gained, each recipient counted once and other campaigns' rows left out."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from activities.campaigns import CampaignActivities, CampaignBatch, CampaignOffer, CampaignStep
from core.config import EngineConfig
from db.models import Notification
from domain.growth.campaigns import campaign_offer_id
from domain.growth.segments import Segment, SegmentRules
from domain.reporting.ledger import LedgerRow
from services import campaigns
from tests.factories.customers import make_customer
from tests.factories.databases import Database
from tests.factories.records import append_row

TRIALS = Segment("trials", "Trials", "", SegmentRules(statuses=("trialing",)))
T0 = datetime.now(UTC)


async def test_results_on_a_scripted_ledger(
    own_database: Database, engine_config: EngineConfig
) -> None:
    sessions = own_database.sessions
    config = dataclasses.replace(engine_config, segments=(TRIALS,))
    a, b, c, d, e = [await make_customer(sessions, config) for _ in range(5)]
    outsider = await make_customer(sessions, config, status="active", plan="pro")
    campaign, _ = await campaigns.create_campaign(
        sessions,
        config,
        segment_id="trials",
        coupon="SAVE30",
        headline="30% off",
        expires_at=None,
        conversion_days=30,
        actor="admin:test",
        now=T0,
    )
    offer = campaign_offer_id(campaign.id)

    async def reach_all_but_e(customers: Sequence[str], _: CampaignOffer) -> list[str]:
        return [cid for cid in customers if cid != e]

    activities = CampaignActivities(sessions, send=reach_all_but_e)
    assert await activities.choose_audience(CampaignStep(campaign.id, T0)) == 5
    assert await activities.send_batch(CampaignBatch(campaign.id, T0)) == 5
    await activities.finish(CampaignStep(campaign.id, T0))

    def at(days: float) -> datetime:
        return T0 + timedelta(days=days)

    script = [
        LedgerRow(a, "offer_sent", at(0), data={"offer_id": offer}),
        LedgerRow(a, "offer_accepted", at(1), mrr_delta_cents=-870, data={"offer_id": offer}),
        LedgerRow(b, "offer_sent", at(0), data={"offer_id": offer}),
        LedgerRow(b, "trial_converted", at(3), mrr_delta_cents=9900),
        LedgerRow(c, "offer_sent", at(0), data={"offer_id": offer}),
        LedgerRow(c, "trial_converted", at(31), mrr_delta_cents=2900),  # after the window
        LedgerRow(d, "offer_not_sent", at(0), data={"offer_id": offer, "status": "canceled"}),
        LedgerRow(a, "offer_sent", at(2), data={"offer_id": "campaign:another"}),
        LedgerRow(outsider, "trial_converted", at(2), mrr_delta_cents=9900),
    ]
    async with sessions.begin() as session:
        for n, row in enumerate(script):
            await append_row(
                session, row, event_key=f"{campaign.id}:{n}", recorded_at=row.occurred_at
            )
        for cid, read in ((a, True), (c, False), (d, True)):
            session.add(
                Notification(
                    dedupe_key=f"{cid}:offer:{offer}",
                    customer_id=cid,
                    kind="offer",
                    title="t",
                    body="b",
                    data={"offer_id": offer},
                    created_at=at(0),
                    read_at=at(1) if read else None,
                )
            )
    results = await campaigns.results(sessions, campaign.id)
    outcome = results.outcome
    assert results.campaign.status == "sent" and results.pending == 0
    assert (outcome.audience, outcome.unreachable) == (5, 1)
    assert (outcome.sent, outcome.not_sent) == (3, 1)
    assert outcome.opened == 1
    assert (outcome.accepted, outcome.converted_to_paid, outcome.converted) == (1, 1, 2)
    assert outcome.mrr_gained_cents == -870 + 9900


async def test_a_pending_recipient_shows_as_pending(
    own_database: Database, engine_config: EngineConfig
) -> None:
    sessions = own_database.sessions
    config = dataclasses.replace(engine_config, segments=(TRIALS,))
    for _ in range(2):
        await make_customer(sessions, config)
    campaign, _ = await campaigns.create_campaign(
        sessions,
        config,
        segment_id="trials",
        coupon="SAVE30",
        headline="30% off",
        expires_at=None,
        conversion_days=7,
        actor="admin:test",
        now=T0,
    )

    async def unused(customers: Sequence[str], _: CampaignOffer) -> list[str]:
        raise AssertionError("nothing is sent")

    await CampaignActivities(sessions, send=unused).choose_audience(CampaignStep(campaign.id, T0))
    results = await campaigns.results(sessions, campaign.id)
    assert results.pending == 2 and results.outcome.audience == 2
    assert results.campaign.status == "sending"
