"""The API's side of the customer workflows: start them, ask them, command them."""

from __future__ import annotations

import logging
from datetime import datetime

from temporalio.client import WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.context import AppContext
from api.errors import Problem
from workflows import search_attributes as sa
from workflows.customer import CustomerWorkflow
from workflows.messages import CustomerWorkflowInput, workflow_id_for

logger = logging.getLogger("lifecycle.api")


def temporal_unavailable(exc: Exception) -> Problem:
    logger.warning("Temporal call failed: %s", exc)
    return Problem(
        503,
        "the workflow service is unavailable; retry the request (it is idempotent)",
        type="temporal-unavailable",
        headers={"Retry-After": "2"},
    )


async def start_customer_workflow(
    context: AppContext, *, customer_id: str, signed_up_at: datetime
) -> None:
    """Start the customer's workflow, or do nothing if it already exists (safe to repeat)."""
    policy = context.config.policy
    try:
        await context.temporal.start_workflow(
            CustomerWorkflow.run,
            CustomerWorkflowInput(
                customer_id=customer_id, signed_up_at=signed_up_at, policy=policy
            ),
            id=workflow_id_for(customer_id),
            task_queue=context.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A finished lifecycle (an erased customer) is never started again.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CUSTOMER_ID, customer_id),
                    SearchAttributePair(sa.LIFECYCLE_STATUS, "trialing"),
                    SearchAttributePair(sa.PLAN_ID, policy.trial.plan),
                    SearchAttributePair(sa.TRIAL_ENDS_AT, signed_up_at + policy.trial.length),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        pass
    except RPCError as exc:
        raise temporal_unavailable(exc) from exc


def customer_handle(context: AppContext, customer_id: str) -> WorkflowHandle:
    return context.temporal.get_workflow_handle_for(
        CustomerWorkflow.run, workflow_id_for(customer_id)
    )
