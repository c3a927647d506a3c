"""The daily reconciliation with the payment provider, started by a Temporal Schedule
(``lifecycle-reconciliation``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import (
        ReconciliationActivities,
        ReconciliationInput,
        ReconciliationSummary,
    )

RECONCILIATION_SCHEDULE_ID = "lifecycle-reconciliation"


@workflow.defn(name="ReconciliationRun")
class ReconciliationWorkflow:
    @workflow.run
    async def run(self) -> ReconciliationSummary:
        return await workflow.execute_activity_method(
            ReconciliationActivities.reconcile,
            ReconciliationInput(as_of=workflow.now()),
            # Listing a large Stripe account takes a while (100 objects a request).
            start_to_close_timeout=timedelta(hours=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
        )
