"""The API's side of the customer workflows: start them, ask them, command them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.context import AppContext
from api.errors import Problem
from api.payment_errors import command_problem
from workflows import search_attributes as sa
from workflows.customer import GENERATION, CustomerWorkflow
from workflows.messages import (
    CommandResult,
    CustomerWorkflowInput,
    command_fingerprint,
    workflow_id_for,
)

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
    terms_version = await context.terms_version()
    try:
        await context.temporal.start_workflow(
            CustomerWorkflow.run,
            CustomerWorkflowInput(
                customer_id=customer_id,
                signed_up_at=signed_up_at,
                terms_version=terms_version,
                generation=GENERATION,
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


# How long a caller waits for a command's outcome. A command still running then goes on;
# the caller repeats the request with the same Idempotency-Key to get its outcome.
COMMAND_DEADLINE = timedelta(seconds=60)


async def run_command(
    context: AppContext,
    customer_id: str,
    update: Any,
    command: Any,
    *,
    idempotency_key: str | None = None,
) -> CommandResult:
    """Send a lifecycle command (a Temporal Update) and map its outcome to the API's answers.

    The ``idempotency_key`` (the request's Idempotency-Key header) travels in the command:
    the workflow answers a retried request with the first outcome, also after it continued
    as new, and the provider's idempotency keys derive from it. It is the update id too,
    so a retry while the first is still running waits for that one.
    """
    command = await _complete(context, command, idempotency_key)
    handle = customer_handle(context, customer_id)
    try:
        result: CommandResult = await asyncio.wait_for(
            handle.execute_update(
                update,
                command,
                id=_update_id(update, command, idempotency_key),
            ),
            timeout=COMMAND_DEADLINE.total_seconds(),
        )
    except TimeoutError:
        raise Problem(
            503,
            "the command is still running; repeat the request with the same Idempotency-Key "
            "to get its outcome",
            type="command-still-running",
            headers={"Retry-After": "5"},
        ) from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise command_problem(cause) from None
        raise Problem(409, str(cause or exc), type="transition-not-allowed") from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Problem(
                409,
                "the customer's lifecycle has ended; no command can change it",
                type="transition-not-allowed",
            ) from None
        raise temporal_unavailable(exc) from exc
    return result


def _update_id(update: Any, command: Any, idempotency_key: str | None) -> str | None:
    """Temporal answers a repeated update id with the first outcome in the same run; the
    arguments are part of the id, so a key reused for another request reaches the workflow
    (which refuses it) instead of getting that outcome."""
    if idempotency_key is None:
        return None
    return f"{update.__name__}:{idempotency_key}:{command_fingerprint(command)}"


async def _complete(context: AppContext, command: Any, idempotency_key: str | None) -> Any:
    """The caller's key, and for a plan change today's terms, into the command."""
    fields = {f.name for f in dataclasses.fields(command)}
    changes: dict[str, Any] = {}
    if idempotency_key is not None and "request_id" in fields:
        changes["request_id"] = idempotency_key
    if "terms_version" in fields and command.terms_version is None:
        changes["terms_version"] = await context.terms_version()
    return dataclasses.replace(command, **changes) if changes else command
