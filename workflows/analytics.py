"""The daily churn model run, started by a Temporal Schedule (``lifecycle-churn-model``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.analytics import AnalyticsActivities, ChurnRunInput, ChurnRunResult

CHURN_SCHEDULE_ID = "lifecycle-churn-model"


@workflow.defn(name="ChurnModelRun")
class ChurnModelWorkflow:
    @workflow.run
    async def run(self) -> ChurnRunResult:
        return await workflow.execute_activity_method(
            AnalyticsActivities.train_churn_model,
            ChurnRunInput(as_of=workflow.now()),
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
        )
