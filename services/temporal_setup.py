"""What `lifecycle temporal setup` (and `lifecycle dev`) registers on the Temporal
namespace: the engine's custom search attributes, the data-retention Schedule, the
daily churn model Schedule and the daily reconciliation with the payment provider."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes
from workflows.analytics import CHURN_SCHEDULE_ID, ChurnModelWorkflow
from workflows.anchor import ANCHOR_SCHEDULE_ID, LedgerAnchorWorkflow
from workflows.reconciliation import RECONCILIATION_SCHEDULE_ID, ReconciliationWorkflow
from workflows.retention import RETENTION_SCHEDULE_ID, RetentionWorkflow


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the engine's custom search attributes that are missing; returns their names."""
    wanted = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
    }
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {k: v for k, v in wanted.items() if k not in existing.custom_attributes}
    except RPCError as exc:
        # The time-skipping test server can add attributes but not list them.
        if exc.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        missing = wanted
    added: list[str] = []
    for name, kind in missing.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes={name: kind})
            )
            added.append(name)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(added)


async def ensure_retention_schedule(client: Client, *, task_queue: str, every: timedelta) -> str:
    """Create (or bring up to date) the Schedule that runs the data-retention purge."""
    return await _ensure_schedule(
        client,
        RETENTION_SCHEDULE_ID,
        ScheduleActionStartWorkflow(
            RetentionWorkflow.run, id=f"{RETENTION_SCHEDULE_ID}-run", task_queue=task_queue
        ),
        every,
    )


async def ensure_churn_schedule(
    client: Client, *, task_queue: str, every: timedelta = timedelta(days=1)
) -> str:
    """Create (or bring up to date) the Schedule that retrains the churn model and rescores
    every paying customer."""
    return await _ensure_schedule(
        client,
        CHURN_SCHEDULE_ID,
        ScheduleActionStartWorkflow(
            ChurnModelWorkflow.run, id=f"{CHURN_SCHEDULE_ID}-run", task_queue=task_queue
        ),
        every,
    )


async def ensure_reconciliation_schedule(
    client: Client, *, task_queue: str, every: timedelta = timedelta(days=1)
) -> str:
    """Create (or bring up to date) the Schedule that compares the engine's invoices and
    subscriptions with the payment provider's."""
    return await _ensure_schedule(
        client,
        RECONCILIATION_SCHEDULE_ID,
        ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run,
            id=f"{RECONCILIATION_SCHEDULE_ID}-run",
            task_queue=task_queue,
        ),
        every,
    )


async def ensure_anchor_schedule(
    client: Client, *, task_queue: str, every: timedelta = timedelta(days=1)
) -> str:
    """Create (or bring up to date) the Schedule that signs the ledger's chain head daily
    (it writes nothing until LIFECYCLE_ANCHOR_DIR and the signing key are set)."""
    return await _ensure_schedule(
        client,
        ANCHOR_SCHEDULE_ID,
        ScheduleActionStartWorkflow(
            LedgerAnchorWorkflow.run, id=f"{ANCHOR_SCHEDULE_ID}-run", task_queue=task_queue
        ),
        every,
    )


async def _ensure_schedule(
    client: Client, schedule_id: str, action: ScheduleActionStartWorkflow, every: timedelta
) -> str:
    schedule = Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def keep_current(update: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(keep_current)
        return "updated"
