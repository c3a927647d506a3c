"""Callers' requests: idempotency keys honoured across runs, and the answer a command gives."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.failures import IDEMPOTENCY_KEY_REUSED
    from workflows.customer import timetable
    from workflows.customer.context import CustomerContext
    from workflows.messages import (
        CommandResult,
        CustomerState,
        CustomerSummary,
        NextAction,
        RequestRecord,
        command_fingerprint,
    )

# Callers' idempotency keys are honoured for a day (as Stripe's are), and the latest 50.
KEPT = 50
FOR = timedelta(hours=24)


def repeated(state: CustomerState, command: Any) -> bool:
    """True when the caller's idempotency key was honoured before (in this run or an
    earlier one); the same key with other arguments is refused."""
    request_id = command.request_id
    if request_id is None:
        return False
    for record in state.requests:
        if record.id == request_id:
            if record.fingerprint != command_fingerprint(command):
                raise ApplicationError(
                    f"the idempotency key {request_id!r} was used for another request",
                    type=IDEMPOTENCY_KEY_REUSED,
                    non_retryable=True,
                )
            return True
    return False


def remember(state: CustomerState, command: Any, now: datetime) -> None:
    if command.request_id is None:
        return
    kept = [r for r in state.requests if now - r.at < FOR]
    kept.append(
        RequestRecord(id=command.request_id, fingerprint=command_fingerprint(command), at=now)
    )
    state.requests = kept[-KEPT:]


def result(ctx: CustomerContext, next_action: NextAction | None) -> CommandResult:
    state = ctx.state
    return CommandResult(
        state=CustomerSummary(
            customer_id=state.customer_id,
            status=state.status,
            plan=state.plan,
            interval=state.interval,
            trial_ends_at=state.trial_ends_at,
            current_period_start=state.current_period_start,
            current_period_end=state.current_period_end,
            cancel_at_period_end=state.cancel_at_period_end,
            scheduled_change=state.scheduled_change,
            dunning=state.dunning,
            pause_resumes_at=state.pause_resumes_at,
            mrr_cents=state.mrr_cents,
            addons=dict(state.addons),
            subscription_id=state.subscription_id,
            payment_method_id=state.payment_method_id,
            needs_attention=timetable.needs_attention(state, ctx.policy),
        ),
        next_action=next_action,
    )
