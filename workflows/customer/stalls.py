"""Steps that fail for a reason other than the card: retried with backoff, never dropped,
and shown to admins (ledger rows, the NeedsAttention search attribute, the read model)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.customer import effects, timetable
    from workflows.customer.context import CustomerContext
    from workflows.messages import Stall


async def stall(ctx: CustomerContext, key: str, exc: ApplicationError) -> None:
    """The step ``key`` failed: try again after a backoff. One ledger row per stall."""
    state = ctx.state
    now = workflow.now()
    found = state.stalled.get(key)
    if found is None:
        found = Stall(
            key=key,
            first_failed_at=now,
            attempts=0,
            next_attempt_at=now,
            error=exc.message,
            error_type=exc.type,
        )
        state.stalled[key] = found
    found.attempts += 1
    found.next_attempt_at = now + timetable.backoff(found.attempts)
    found.error, found.error_type = exc.message, exc.type
    workflow.logger.warning(
        "step %s failed (attempt %d, next at %s): %s (%s)",
        key,
        found.attempts,
        found.next_attempt_at.isoformat(),
        exc.message,
        exc.type,
    )
    if found.attempts == 1:
        await effects.record(
            ctx,
            "automation_failed",
            data={
                "step": key,
                "error": exc.message,
                "type": exc.type,
                "next_attempt_at": found.next_attempt_at.isoformat(),
            },
        )


async def unstall(ctx: CustomerContext, key: str) -> None:
    """The stalled step went through."""
    found = ctx.state.stalled.pop(key)
    await effects.record(
        ctx, "automation_recovered", data={"step": key, "attempts": found.attempts + 1}
    )


async def failed_once(ctx: CustomerContext, what: str, exc: ApplicationError) -> None:
    """Before FAILED_STEPS_RETRY: recorded for an admin, and the step counted as done."""
    workflow.logger.error("automatic step %s failed: %s (%s)", what, exc.message, exc.type)
    await effects.record(
        ctx, "automation_failed", data={"step": what, "error": exc.message, "type": exc.type}
    )
