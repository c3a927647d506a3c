"""A campaign's send: the audience chosen once, then offers batch by batch through each
customer's workflow (``activities.campaigns``), so a send of thousands goes on after a
crash of the API or a worker. Started by ``services.campaigns.send_campaign``; one per
campaign (workflow id ``campaign-<id>``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.campaigns import CampaignActivities, CampaignBatch, CampaignStep

BATCH_SIZE = 200
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


def campaign_workflow_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


@dataclass(frozen=True)
class CampaignInput:
    campaign_id: str
    batch_size: int = BATCH_SIZE


@dataclass(frozen=True)
class CampaignRun:
    audience: int
    handled: int


@workflow.defn(name="CampaignSend")
class CampaignWorkflow:
    def __init__(self) -> None:
        self._handled = 0

    @workflow.run
    async def run(self, request: CampaignInput) -> CampaignRun:
        audience = await workflow.execute_activity_method(
            CampaignActivities.choose_audience,
            CampaignStep(request.campaign_id, workflow.now()),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_RETRY,
        )
        while True:
            handled = await workflow.execute_activity_method(
                CampaignActivities.send_batch,
                CampaignBatch(request.campaign_id, workflow.now(), request.batch_size),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=_RETRY,
            )
            if handled == 0:
                break
            self._handled += handled
            if workflow.info().is_continue_as_new_suggested():
                # Only pending recipients are sent, so a new run picks up where this left.
                workflow.continue_as_new(request)
        await workflow.execute_activity_method(
            CampaignActivities.finish,
            CampaignStep(request.campaign_id, workflow.now()),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=_RETRY,
        )
        return CampaignRun(audience=audience, handled=self._handled)

    @workflow.query
    def handled(self) -> int:
        return self._handled
