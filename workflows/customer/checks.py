"""Which commands the customer's state allows: pure rules, raising ``TransitionRefused``.

Each runs twice: in the update's validator (a refused command never enters the history)
and again under the lock, as the state may have changed while the command waited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.catalog import Catalog
    from domain.changes import SUBSCRIBABLE, require_status, require_subscribable_plan
    from domain.lifecycle import Status, TransitionRefused
    from workflows.messages import (
        CancelSubscription,
        ChangeSubscription,
        CustomerState,
        ExtendTrial,
        PauseSubscription,
        PurchaseAddon,
        ReactivateSubscription,
        ResumeSubscription,
    )

MAX_EXTENSION_DAYS = 90
MAX_ADDON_QUANTITY = 100


def check_change(
    state: CustomerState, catalog: Catalog | None, command: ChangeSubscription
) -> None:
    """``catalog`` is None when the command brings terms the workflow has yet to load; the
    plan is then checked against those, under the lock."""
    if catalog is not None:
        require_subscribable_plan(catalog, command.plan)
    if state.status in SUBSCRIBABLE:
        return
    require_status(
        state.status,
        {Status.ACTIVE, *SUBSCRIBABLE},
        f"change the plan to {command.plan}/{command.interval.value}",
    )
    same = (command.plan, command.interval) == (state.plan, state.interval)
    if same and state.scheduled_change is None:
        raise TransitionRefused(
            f"already on {command.plan}/{command.interval.value}", status=state.status
        )


def check_cancel(state: CustomerState, command: CancelSubscription) -> None:
    allowed = {Status.ACTIVE, Status.PAST_DUE}
    if not command.at_period_end:
        allowed.add(Status.PAUSED)
    require_status(state.status, allowed, "cancel")
    if command.at_period_end and state.cancel_at_period_end:
        raise TransitionRefused("cancellation at period end is already scheduled")


def check_reactivate(state: CustomerState) -> None:
    require_status(state.status, {Status.ACTIVE, Status.PAST_DUE}, "reactivate")
    if not state.cancel_at_period_end:
        raise TransitionRefused("nothing to reactivate: no cancellation is scheduled")


def check_pause(state: CustomerState, command: PauseSubscription, now: datetime) -> None:
    require_status(state.status, {Status.ACTIVE}, "pause")
    if command.resumes_at is not None and command.resumes_at <= now:
        raise TransitionRefused("resumes_at must be in the future")


def check_resume(state: CustomerState) -> None:
    require_status(state.status, {Status.PAUSED}, "resume")


def check_extension(state: CustomerState, command: ExtendTrial) -> None:
    require_status(state.status, {Status.TRIALING, Status.TRIAL_EXPIRED}, "extend the trial")
    if not 1 <= command.days <= MAX_EXTENSION_DAYS:
        raise TransitionRefused(f"days must be between 1 and {MAX_EXTENSION_DAYS}")
    if not command.reason.strip():
        raise TransitionRefused("a reason is required")


def check_addon(state: CustomerState, catalog: Catalog, command: PurchaseAddon) -> None:
    require_status(state.status, {Status.ACTIVE}, f"buy {command.addon}")
    addon = catalog.addons.get(command.addon)
    if addon is None:
        raise TransitionRefused(f"unknown add-on {command.addon!r}")
    if not 1 <= command.quantity <= MAX_ADDON_QUANTITY:
        raise TransitionRefused(f"quantity must be between 1 and {MAX_ADDON_QUANTITY}")
    if addon.kind == "feature" and (command.quantity != 1 or state.addons.get(addon.id)):
        raise TransitionRefused(f"{addon.id} is an on/off feature; it is bought once")


def check(state: CustomerState, catalog: Catalog | None, command: Any, now: datetime) -> None:
    """The rules of any command. ``catalog`` is None while the terms the command needs are
    not loaded yet: its catalog rules are then checked under the lock."""
    match command:
        case ChangeSubscription():
            check_change(state, catalog, command)
        case CancelSubscription():
            check_cancel(state, command)
        case ReactivateSubscription():
            check_reactivate(state)
        case PauseSubscription():
            check_pause(state, command, now)
        case ResumeSubscription():
            check_resume(state)
        case ExtendTrial():
            check_extension(state, command)
        case PurchaseAddon():
            if catalog is not None:
                check_addon(state, catalog, command)
        case _:
            # A new card and erasure are allowed in every state.
            pass
