"""The trial: welcome, reminders, expiry, win-backs, and an admin's extension."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.emails import EmailTemplate
    from domain.lifecycle import Status
    from domain.trial import TrialAction, TrialStep
    from workflows import search_attributes as sa
    from workflows.customer import effects
    from workflows.customer.context import CustomerContext
    from workflows.customer.effects import iso
    from workflows.messages import ExtendTrial


async def start(ctx: CustomerContext) -> None:
    state = ctx.state
    effects.upsert_search_attributes(ctx, [(sa.CUSTOMER_ID, state.customer_id)])
    await effects.record(
        ctx, "trial_started", from_status=None, data={"trial_ends_at": iso(state.trial_ends_at)}
    )
    await effects.email(
        ctx,
        EmailTemplate.WELCOME,
        key="welcome",
        data={
            "trial_days": max(1, ctx.policy.trial.length.days),
            "trial_ends_at": iso(state.trial_ends_at),
        },
    )


async def run_step(ctx: CustomerContext, action: TrialAction) -> None:
    trial_ends_at = iso(ctx.state.trial_ends_at)
    if action.step is TrialStep.REMINDER:
        await effects.email(
            ctx,
            EmailTemplate.TRIAL_REMINDER,
            key=action.key,
            data={"days_left": action.whole_days, "trial_ends_at": trial_ends_at},
        )
    elif action.step is TrialStep.EXPIRE:
        await effects.move(
            ctx, Status.TRIAL_EXPIRED, "trial_expired", data={"trial_ends_at": trial_ends_at}
        )
        await effects.email(
            ctx, EmailTemplate.TRIAL_EXPIRED, key=action.key, data={"trial_ends_at": trial_ends_at}
        )
    else:
        trial = ctx.policy.trial
        data: dict[str, Any] = {
            "days_since_expiry": action.whole_days,
            "trial_ends_at": trial_ends_at,
        }
        if trial.winback_coupon and trial.winback_offer:
            data["offer"] = trial.winback_offer
        await effects.email(ctx, EmailTemplate.TRIAL_WINBACK, key=action.key, data=data)
        ctx.state.winbacks_sent += 1


async def extend(ctx: CustomerContext, command: ExtendTrial) -> None:
    state = ctx.state
    assert state.trial_ends_at is not None
    now = workflow.now()
    previous_end = state.trial_ends_at
    # An expired trial reopens from today; a running one grows from its end.
    state.trial_ends_at = max(previous_end, now) + timedelta(days=command.days)
    # Reminders are planned afresh from the new end, for what is still ahead.
    state.trial_planned_from = now
    await effects.move(
        ctx,
        Status.TRIALING,
        "trial_extended",
        actor=command.actor,
        data={
            "days": command.days,
            "reason": command.reason,
            "previous_trial_ends_at": iso(previous_end),
            "trial_ends_at": iso(state.trial_ends_at),
        },
    )
    await effects.email(
        ctx,
        EmailTemplate.TRIAL_EXTENDED,
        key=f"trial_extended:{state.trial_ends_at.isoformat()}",
        data={"days": command.days, "trial_ends_at": iso(state.trial_ends_at)},
    )
