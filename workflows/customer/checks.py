"""Which commands the customer's state allows: pure rules, raising ``TransitionRefused``.

Each runs twice: in the update's validator (a refused command never enters the history)
and again under the lock, as the state may have changed while the command waited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.catalog import Catalog
    from domain.changes import SUBSCRIBABLE, require_status, require_subscribable_plan
    from domain.lifecycle import Status, TransitionRefused
    from domain.retention import (
        MAX_PAUSE_DAYS,
        MAX_TRIAL_DAYS,
        ExitReason,
        OfferKind,
        OfferSource,
        taken_recently,
    )
    from workflows.messages import (
        AcceptOffer,
        CancelSubscription,
        ChangeSubscription,
        CustomerState,
        ExtendTrial,
        PauseSubscription,
        PurchaseAddon,
        ReactivateSubscription,
        RequestCancellation,
        ResumeSubscription,
    )

MAX_EXTENSION_DAYS = 90
MAX_ADDON_QUANTITY = 100


def check_change(
    state: CustomerState,
    catalog: Catalog | None,
    command: ChangeSubscription,
    new_terms: Callable[[], bool] = lambda: False,
) -> None:
    """``catalog`` is None when the command brings terms the workflow has yet to load; the
    plan is then checked against those, under the lock. ``new_terms``: whether the command
    adopts other terms (asked only when it decides), so the current plan may be repriced."""
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
    # With other terms the current plan is repriced at the renewal (another region's
    # prices, ``domain.regions``); while they are still to load (``catalog`` None) that is
    # decided under the lock.
    if same and state.scheduled_change is None and catalog is not None and not new_terms():
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


def check_request_cancellation(state: CustomerState, command: RequestCancellation) -> None:
    require_status(
        state.status,
        {Status.ACTIVE, Status.PAST_DUE, Status.PAUSED, Status.TRIALING, Status.TRIAL_EXPIRED},
        "ask to cancel",
    )
    if command.reason not in ExitReason.__members__.values():
        raise TransitionRefused(f"unknown exit reason {command.reason!r}")
    unknown = [kind for kind in command.offers if kind not in OfferKind.__members__.values()]
    if unknown:
        raise TransitionRefused(f"unknown offer kind(s) {unknown}")


def check_accept(
    state: CustomerState, catalog: Catalog | None, command: AcceptOffer, now: datetime
) -> None:
    """An offer sent earlier (``offer_id``) must be open; a save-flow offer must fit the
    customer now and not have been taken in the last 180 days."""
    if command.kind not in OfferKind.__members__.values():
        raise TransitionRefused(f"unknown offer kind {command.kind!r}")
    kind = OfferKind(command.kind)
    if command.offer_id is not None:
        made = state.offer(command.offer_id)
        if made is None or not made.sent:
            raise TransitionRefused(f"no offer {command.offer_id!r} was made to this customer")
        if made.accepted_at is not None:
            raise TransitionRefused(f"offer {command.offer_id!r} was already taken")
        if made.expires_at is not None and made.expires_at <= now:
            raise TransitionRefused(f"offer {command.offer_id!r} has expired")
        if kind.value != made.kind:
            raise TransitionRefused(f"offer {command.offer_id!r} is a {made.kind} offer")
        require_status(
            state.status, {Status.ACTIVE, Status.TRIALING, Status.TRIAL_EXPIRED}, "take an offer"
        )
        return
    taken = max(
        (
            r.accepted_at
            for r in state.offers
            if r.source == OfferSource.SAVE_FLOW.value and r.kind == kind.value and r.accepted_at
        ),
        default=None,
    )
    if taken_recently(taken, now):
        raise TransitionRefused(f"a {kind.value} offer was taken recently")
    if kind is OfferKind.EXTEND_TRIAL:
        require_status(state.status, {Status.TRIAL_EXPIRED}, "extend an expired trial")
        if command.days is None or not 1 <= command.days <= MAX_TRIAL_DAYS:
            raise TransitionRefused(f"days must be between 1 and {MAX_TRIAL_DAYS}")
        return
    require_status(state.status, {Status.ACTIVE}, f"take a {kind.value} offer")
    if kind is OfferKind.PAUSE:
        if command.days is None or not 1 <= command.days <= MAX_PAUSE_DAYS:
            raise TransitionRefused(f"days must be between 1 and {MAX_PAUSE_DAYS}")
    elif kind is OfferKind.COUPON:
        if not command.coupon:
            raise TransitionRefused("a coupon offer names its coupon")
    elif command.plan is None or command.interval is None:
        raise TransitionRefused("a downgrade offer names its plan and interval")
    elif catalog is not None:
        require_subscribable_plan(catalog, command.plan)
        if command.interval != state.interval:
            raise TransitionRefused("a downgrade offer keeps the billing interval")
        current, wanted = catalog.plans.get(state.plan), catalog.plan(command.plan)
        if (
            current is None
            or current.monthly_price_cents is None
            or wanted.monthly_price_cents is None
            or wanted.monthly_price_cents >= current.monthly_price_cents
        ):
            raise TransitionRefused(f"{command.plan} is not cheaper than {state.plan}")


def check(
    state: CustomerState,
    catalog: Catalog | None,
    command: Any,
    now: datetime,
    *,
    new_terms: Callable[[], bool] = lambda: False,
) -> None:
    """The rules of any command. ``catalog`` is None while the terms the command needs are
    not loaded yet: its catalog rules are then checked under the lock."""
    match command:
        case ChangeSubscription():
            check_change(state, catalog, command, new_terms)
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
        case RequestCancellation():
            check_request_cancellation(state, command)
        case AcceptOffer():
            check_accept(state, catalog, command, now)
        case _:
            # A new card and erasure are allowed in every state.
            pass
