"""The daily signed anchor of the ledger's chain head, started by a Temporal Schedule
(``lifecycle-ledger-anchor``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.anchors import AnchorActivities, AnchorInput

ANCHOR_SCHEDULE_ID = "lifecycle-ledger-anchor"


@workflow.defn(name="LedgerAnchorRun")
class LedgerAnchorWorkflow:
    @workflow.run
    async def run(self) -> str | None:
        return await workflow.execute_activity_method(
            AnchorActivities.write_ledger_anchor,
            AnchorInput(as_of=workflow.now()),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
        )
