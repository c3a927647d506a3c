"""Where a run starts from: a new customer's state, or the state an earlier run carried."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.lifecycle import Status
    from domain.trial import TrialStep
    from workflows.customer.context import CustomerContext
    from workflows.customer.patches import GENERATION
    from workflows.messages import CustomerState, CustomerWorkflowInput


def new_state(params: CustomerWorkflowInput) -> CustomerState:
    """The trial's plan and length are the terms': inline ones are at hand, versioned ones
    are filled in once loaded (``start_trial``)."""
    state = CustomerState(
        customer_id=params.customer_id,
        status=Status.TRIALING,
        plan="",
        signed_up_at=params.signed_up_at,
        trial_planned_from=params.signed_up_at,
    )
    if params.policy is not None:
        start_trial(state, params.policy.trial.plan, params.policy.trial.length)
    return state


def start_trial(state: CustomerState, plan: str, length: timedelta) -> None:
    state.plan = plan
    state.trial_ends_at = state.signed_up_at + length


def carry_over(state: CustomerState) -> None:
    """Derive what a state carried from an older run lacks."""
    if not state.winbacks_sent:
        state.winbacks_sent = sum(1 for k in state.done if k.startswith(f"{TrialStep.WINBACK}:"))
    usage_keys = [k for k in state.done if k.startswith("usage:")]
    if usage_keys:
        state.usage_notified = [*state.usage_notified, *usage_keys]
        state.done = [k for k in state.done if not k.startswith("usage:")]


def final_action_lost(state: CustomerState) -> bool:
    """A dunning final action that failed before it was a step of its own (never retried)."""
    dunning = state.dunning
    return (
        state.status is Status.PAST_DUE
        and dunning is not None
        and dunning.next_retry_at is None
        and dunning.final_action_at is None
    )


def next_run(ctx: CustomerContext) -> CustomerWorkflowInput:
    """The input of the run that continues this one: the state and the terms' version (or
    the terms themselves, for a run that predates versions)."""
    assert ctx.terms is not None
    inline = ctx.terms_version is None
    return CustomerWorkflowInput(
        customer_id=ctx.state.customer_id,
        signed_up_at=ctx.state.signed_up_at,
        terms_version=ctx.terms_version,
        generation=GENERATION,
        state=ctx.state,
        policy=ctx.terms.policy if inline else None,
        catalog=ctx.terms.catalog if inline else None,
    )
