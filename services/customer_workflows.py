"""The customer's workflow, one per customer (``customer-<id>``): start it at sign-up and
reach it afterwards. Used by the API and the demo seeder alike."""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from services.context import EngineContext
from services.errors import WorkflowServiceUnavailable
from workflows import search_attributes as sa
from workflows.customer import GENERATION, CustomerWorkflow
from workflows.messages import CustomerWorkflowInput, workflow_id_for


async def start_customer_workflow(
    engine: EngineContext, *, customer_id: str, signed_up_at: datetime
) -> None:
    """Start the customer's workflow, or do nothing if it already exists (safe to repeat).

    Raises ``WorkflowServiceUnavailable`` when Temporal does not answer."""
    policy = engine.config.policy
    terms_version = await engine.terms_version()
    try:
        await engine.temporal.start_workflow(
            CustomerWorkflow.run,
            CustomerWorkflowInput(
                customer_id=customer_id,
                signed_up_at=signed_up_at,
                terms_version=terms_version,
                generation=GENERATION,
            ),
            id=workflow_id_for(customer_id),
            task_queue=engine.task_queue,
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
        raise WorkflowServiceUnavailable(str(exc)) from exc


def customer_handle(temporal: Client, customer_id: str) -> WorkflowHandle:
    return temporal.get_workflow_handle_for(CustomerWorkflow.run, workflow_id_for(customer_id))
