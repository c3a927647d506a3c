"""The customer's workflow, one per customer (``customer-<id>``): start it at sign-up and
reach it afterwards. Used by the API and the demo seeder alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.context import EngineContext
from services.errors import WorkflowServiceUnavailable
from services.regions import in_customer_terms
from workflows import search_attributes as sa
from workflows.customer import GENERATION, CustomerWorkflow
from workflows.messages import CustomerWorkflowInput, workflow_id_for

logger = logging.getLogger("lifecycle.customers")

# Signals in flight at once: a campaign or the first churn run reaches thousands.
_SIGNAL_CONCURRENCY = 50


async def start_customer_workflow(
    engine: EngineContext, *, customer_id: str, signed_up_at: datetime
) -> None:
    """Start the customer's workflow, or do nothing if it already exists (safe to repeat).

    Raises ``WorkflowServiceUnavailable`` when Temporal does not answer."""
    policy = engine.config.policy
    # In the customer's currency and region: the workflow's amounts (MRR, emails) come
    # from its terms.
    terms_version = await in_customer_terms(
        engine.config, engine.sessions, customer_id, await engine.terms_version()
    )
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


async def signal_customers(
    temporal: Client, signal: str, messages: Sequence[tuple[str, Any]]
) -> list[str]:
    """Send each (customer, message) as ``signal``; answers the customers whose workflow
    heard it. A closed workflow (an erased or long-gone customer) is skipped; anything else
    raises, and the caller repeats the whole batch (every signal sent this way is idempotent
    in the workflow)."""
    reached: list[str] = []
    for start in range(0, len(messages), _SIGNAL_CONCURRENCY):
        chunk = messages[start : start + _SIGNAL_CONCURRENCY]
        results = await asyncio.gather(
            *(
                temporal.get_workflow_handle(workflow_id_for(cid)).signal(signal, message)
                for cid, message in chunk
            ),
            return_exceptions=True,
        )
        for (cid, _), result in zip(chunk, results, strict=True):
            if isinstance(result, RPCError) and result.status is RPCStatusCode.NOT_FOUND:
                logger.info("customer %s has no running workflow; %s not sent", cid, signal)
            elif isinstance(result, BaseException):
                raise result
            else:
                reached.append(cid)
    return reached
