"""The data-retention purge, started by a Temporal Schedule (``lifecycle-retention``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # Terms' annotations name these; the data converter resolves them in the sandbox.
    import domain.catalog
    import domain.policy  # noqa: F401
    from activities.policy import PolicyActivities
    from activities.privacy import PrivacyActivities, PurgeInput, PurgeResult

RETENTION_SCHEDULE_ID = "lifecycle-retention"


@workflow.defn(name="RetentionPurge")
class RetentionWorkflow:
    @workflow.run
    async def run(self) -> PurgeResult:
        # Today's configuration, so an operator's change applies from the next run.
        terms = await workflow.execute_activity_method(
            PolicyActivities.current_terms,
            start_to_close_timeout=timedelta(seconds=30),
        )
        retention = terms.policy.retention
        return await workflow.execute_activity_method(
            PrivacyActivities.purge_expired_data,
            PurgeInput(
                usage_events_older_than=retention.usage_events,
                email_bodies_older_than=retention.email_bodies,
            ),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
