"""The API's side of the customer workflows: command them, and answer the workflow
service's absence (``services.customer_workflows`` starts and reaches them)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.context import AppContext
from api.errors import Problem
from api.payment_errors import command_problem
from services.customer_workflows import customer_handle
from services.experiments import command_terms_version
from workflows.messages import CommandResult, command_fingerprint

logger = logging.getLogger("lifecycle.api")


def temporal_unavailable(exc: Exception) -> Problem:
    logger.warning("Temporal call failed: %s", exc)
    return Problem(
        503,
        "the workflow service is unavailable; retry the request (it is idempotent)",
        type="temporal-unavailable",
        headers={"Retry-After": "2"},
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
    command = await _complete(context, customer_id, command, idempotency_key)
    handle = customer_handle(context.temporal, customer_id)
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


async def _complete(
    context: AppContext, customer_id: str, command: Any, idempotency_key: str | None
) -> Any:
    """The caller's key, and for a plan change the customer's terms into the command:
    today's, or those an experiment pinned it to (``services.experiments``)."""
    fields = {f.name for f in dataclasses.fields(command)}
    changes: dict[str, Any] = {}
    if idempotency_key is not None and "request_id" in fields:
        changes["request_id"] = idempotency_key
    if "terms_version" in fields and command.terms_version is None:
        changes["terms_version"] = await command_terms_version(context.engine, customer_id)
    return dataclasses.replace(command, **changes) if changes else command
