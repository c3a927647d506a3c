"""Subscribing and changing plans; cancel, reactivate, pause, resume; period ends."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.billing import (
        BillingActivities,
        ChangePriceInput,
        CreateSubscriptionInput,
        SchedulePriceChangeInput,
    )
    from domain.catalog import Catalog
    from domain.changes import ChangeKind, PlanChoice, classify_change
    from domain.emails import EmailTemplate
    from domain.lifecycle import BillingInterval, Status
    from domain.payments import SubscriptionInfo
    from workflows.customer import effects, patches
    from workflows.customer.context import SYSTEM_ACTOR, CustomerContext
    from workflows.customer.effects import iso
    from workflows.customer.timetable import period_end_key
    from workflows.messages import (
        CancelSubscription,
        ChangeSubscription,
        PauseSubscription,
        ReactivateSubscription,
        ScheduledChange,
    )


def classify(
    ctx: CustomerContext, current: PlanChoice, wanted: PlanChoice, *, was: Catalog | None = None
) -> ChangeKind:
    """``was``: the catalog the current plan comes from, when the change adopts new terms."""
    return classify_change(ctx.catalog, current, wanted, current_catalog=was)


# -- subscribing ----------------------------------------------------------------------------


async def subscribe(ctx: CustomerContext, command: ChangeSubscription) -> None:
    state = ctx.state
    seq = ctx.next_command()
    provider_customer = await effects.ensure_provider_customer(ctx)
    if command.payment_method:
        await effects.attach_payment_method(ctx, provider_customer, command.payment_method, seq)
    subscription = await effects.billing(
        ctx,
        BillingActivities.create_subscription,
        CreateSubscriptionInput(
            customer_id=state.customer_id,
            provider_customer_id=provider_customer,
            plan=command.plan,
            interval=command.interval,
            idempotency_key=ctx.key(seq, "subscribe"),
            coupon=command.coupon or state.conversion_coupon or winback_coupon(ctx),
        ),
    )
    # An offer taken during the trial is used up by this conversion.
    state.conversion_coupon = None
    await start_subscription(ctx, subscription, command.actor, via="api")


def winback_coupon(ctx: CustomerContext) -> str | None:
    """The win-back offer holds for a customer who was sent one and converts now."""
    state, trial = ctx.state, ctx.policy.trial
    if state.status is Status.TRIAL_EXPIRED and state.winbacks_sent and trial.winback_offer:
        return trial.winback_coupon
    return None


async def start_subscription(
    ctx: CustomerContext, subscription: SubscriptionInfo, actor: str, *, via: str
) -> None:
    state = ctx.state
    previous = state.status
    price = subscription.price
    plan = price.plan if price else state.plan
    interval = price.interval if price else BillingInterval.MONTH
    effects.adopt_period(ctx, subscription)
    state.subscription_id = subscription.id
    state.pending_subscription_id = None
    state.plan, state.interval = plan, interval
    state.cancel_at_period_end = subscription.cancel_at_period_end
    state.scheduled_change = None
    new_mrr = ctx.mrr(plan, interval)
    kind = "subscription_restarted" if previous is Status.CANCELED else "trial_converted"
    invoice = subscription.latest_invoice
    await effects.move(
        ctx,
        Status.ACTIVE,
        kind,
        actor=actor,
        new_mrr=new_mrr,
        data={
            "via": via,
            "converted_from": previous.value,
            "winbacks_sent": state.winbacks_sent,
            "amount_paid_cents": invoice.amount_paid_cents if invoice else 0,
            "invoice_id": invoice.id if invoice else None,
            "subscription_id": subscription.id,
        },
    )
    await effects.email(
        ctx,
        EmailTemplate.TRIAL_CONVERTED,
        key=f"converted:{subscription.id}",
        data={
            **ctx.plan_data(),
            "amount_cents": invoice.amount_paid_cents if invoice else 0,
            "currency": invoice.currency if invoice else ctx.catalog.currency,
            "period_end_at": iso(state.current_period_end),
        },
    )


# -- plan changes ---------------------------------------------------------------------------


async def change_plan(
    ctx: CustomerContext, command: ChangeSubscription, *, was: Catalog | None = None
) -> None:
    state = ctx.state
    assert state.subscription_id is not None and state.interval is not None
    seq = ctx.next_command()
    wanted = PlanChoice(command.plan, command.interval)
    same = (command.plan, command.interval) == (state.plan, state.interval)
    # The current plan with new terms (another region's prices, ``domain.regions``): the
    # new price waits for the renewal, never the period under way. Unreachable before the
    # patch: the update's validator refused the current plan when no change was scheduled.
    reprice = (
        same
        and state.scheduled_change is None
        and was is not None
        and workflow.patched(patches.REPRICE_AT_RENEWAL)
    )
    if same and not reprice:
        # Asking for the current plan withdraws a pending downgrade.
        await drop_scheduled_change(ctx, seq, command.actor)
        return
    kind = classify(ctx, PlanChoice(state.plan, state.interval), wanted, was=was)
    now = not reprice and (
        command.when == "now" or (command.when is None and kind is ChangeKind.UPGRADE)
    )
    if state.scheduled_change is not None:
        # Any new change replaces a pending one (the provider drops it too).
        await drop_scheduled_change(ctx, seq, command.actor)
    if now:
        subscription = await effects.billing(
            ctx,
            BillingActivities.change_price,
            ChangePriceInput(
                customer_id=state.customer_id,
                subscription_id=state.subscription_id,
                plan=command.plan,
                interval=command.interval,
                proration="always_invoice",
                idempotency_key=ctx.key(seq, "change"),
            ),
        )
        effects.adopt_period(ctx, subscription)
        invoice = subscription.latest_invoice
        charged = (
            invoice.amount_paid_cents
            if invoice is not None and invoice.billing_reason == "subscription_update"
            else 0
        )
        await apply_plan(
            ctx, wanted, kind, actor=command.actor, amount_cents=charged, key=f"change:{seq}"
        )
        return
    subscription = await effects.billing(
        ctx,
        BillingActivities.schedule_price_change,
        SchedulePriceChangeInput(
            customer_id=state.customer_id,
            subscription_id=state.subscription_id,
            plan=command.plan,
            interval=command.interval,
            idempotency_key=ctx.key(seq, "schedule"),
        ),
    )
    effects.adopt_period(ctx, subscription)
    assert state.current_period_end is not None
    state.scheduled_change = ScheduledChange(
        plan=command.plan, interval=command.interval, effective_at=state.current_period_end
    )
    await effects.record(
        ctx,
        "plan_change_scheduled",
        actor=command.actor,
        data={
            "to_plan": command.plan,
            "to_interval": command.interval.value,
            "effective_at": iso(state.current_period_end),
        },
    )


async def drop_scheduled_change(ctx: CustomerContext, seq: int, actor: str) -> None:
    state = ctx.state
    assert state.subscription_id is not None
    await effects.subscription_command(ctx, "cancel_scheduled_change", seq)
    dropped = state.scheduled_change
    state.scheduled_change = None
    if dropped is not None:
        await effects.record(
            ctx,
            "plan_change_withdrawn",
            actor=actor,
            data={"to_plan": dropped.plan, "to_interval": dropped.interval.value},
        )


async def apply_plan(
    ctx: CustomerContext,
    wanted: PlanChoice,
    kind: ChangeKind,
    *,
    actor: str,
    amount_cents: int,
    key: str,
    reason: str | None = None,
    from_status: Status | None = None,
) -> None:
    state = ctx.state
    previous_plan = state.plan
    previous_name = ctx.plan_name(previous_plan)
    state.plan, state.interval = wanted.plan, wanted.interval
    state.scheduled_change = None
    billed = state.status in (Status.ACTIVE, Status.PAST_DUE)
    new_mrr = ctx.mrr(wanted.plan, wanted.interval) if billed else 0
    await effects.record(
        ctx,
        "plan_changed",
        from_status=from_status or state.status,
        actor=actor,
        new_mrr=new_mrr,
        data={
            "change": kind.value,
            "from_plan": previous_plan,
            "amount_paid_cents": amount_cents,
            **({"reason": reason} if reason else {}),
        },
    )
    await effects.email(
        ctx,
        EmailTemplate.PLAN_CHANGED,
        key=key,
        data={
            **ctx.plan_data(),
            "previous_plan_name": previous_name,
            "effective_at": iso(workflow.now()),
            "amount_cents": amount_cents,
            "currency": ctx.catalog.currency,
        },
    )


# -- cancel and reactivate ------------------------------------------------------------------


async def cancel(ctx: CustomerContext, command: CancelSubscription) -> None:
    state = ctx.state
    seq = ctx.next_command()
    if state.scheduled_change is not None:
        await drop_scheduled_change(ctx, seq, command.actor)
    subscription = await effects.subscription_command(
        ctx, "cancel", seq, at_period_end=command.at_period_end
    )
    if command.at_period_end:
        effects.adopt_period(ctx, subscription)
        state.cancel_at_period_end = True
        await effects.record(
            ctx,
            "cancellation_scheduled",
            actor=command.actor,
            data={"effective_at": iso(state.current_period_end)},
        )
        await effects.email(
            ctx,
            EmailTemplate.SUBSCRIPTION_CANCELED,
            key=f"cancel:{seq}",
            data={
                **ctx.plan_data(),
                "at_period_end": True,
                "effective_at": iso(state.current_period_end),
            },
        )
        return
    await end_subscription(ctx, actor=command.actor, reason="canceled_now", key=f"cancel:{seq}")


# Why a subscription ends without the customer choosing it: the engine's dunning gave up,
# or Stripe ended it (its own retries failed, a dispute).
_INVOLUNTARY = ("dunning_exhausted", "payment_failed", "payment_disputed")


async def end_subscription(ctx: CustomerContext, *, actor: str, reason: str, key: str) -> None:
    state = ctx.state
    state.cancel_at_period_end = False
    state.scheduled_change = None
    state.addons = {}
    await effects.move(
        ctx,
        Status.CANCELED,
        "subscription_canceled",
        actor=actor,
        new_mrr=0,
        data={"reason": reason, "voluntary": reason not in _INVOLUNTARY},
    )
    if reason != "cancel_at_period_end":
        await effects.email(
            ctx,
            EmailTemplate.SUBSCRIPTION_CANCELED,
            key=key,
            data={**ctx.plan_data(), "at_period_end": False},
        )


async def reactivate(ctx: CustomerContext, command: ReactivateSubscription) -> None:
    state = ctx.state
    seq = ctx.next_command()
    subscription = await effects.subscription_command(ctx, "reactivate", seq)
    effects.adopt_period(ctx, subscription)
    state.cancel_at_period_end = False
    await effects.record(ctx, "cancellation_withdrawn", actor=command.actor)
    await effects.email(
        ctx,
        EmailTemplate.SUBSCRIPTION_REACTIVATED,
        key=f"reactivate:{seq}",
        data={**ctx.plan_data(), "period_end_at": iso(state.current_period_end)},
    )


# -- pause and resume -----------------------------------------------------------------------


async def pause(ctx: CustomerContext, command: PauseSubscription) -> None:
    state = ctx.state
    seq = ctx.next_command()
    await effects.subscription_command(ctx, "pause", seq, resumes_at=command.resumes_at)
    state.pause_resumes_at = command.resumes_at
    await effects.move(
        ctx,
        Status.PAUSED,
        "subscription_paused",
        actor=command.actor,
        new_mrr=0,
        data={"resumes_at": iso(command.resumes_at)},
    )
    await effects.email(
        ctx,
        EmailTemplate.SUBSCRIPTION_PAUSED,
        key=f"pause:{seq}",
        data={**ctx.plan_data(), "resumes_at": iso(command.resumes_at)},
    )


async def resume(ctx: CustomerContext, actor: str, *, call_provider: bool = True) -> None:
    state = ctx.state
    seq = ctx.next_command()
    if call_provider:
        subscription = await effects.subscription_command(ctx, "resume", seq)
        effects.adopt_period(ctx, subscription)
    state.pause_resumes_at = None
    assert state.interval is not None
    await effects.move(
        ctx,
        Status.ACTIVE,
        "subscription_resumed",
        actor=actor,
        new_mrr=ctx.mrr(state.plan, state.interval),
    )
    await effects.email(
        ctx, EmailTemplate.SUBSCRIPTION_RESUMED, key=f"resume:{seq}", data=ctx.plan_data()
    )


async def auto_resume(ctx: CustomerContext) -> None:
    # The provider resumes collection at resumes_at on its own.
    await resume(ctx, SYSTEM_ACTOR, call_provider=False)


# -- period end -----------------------------------------------------------------------------


async def period_ended(ctx: CustomerContext, end: datetime, *, actor: str) -> None:
    """What takes effect when a billing period ends: a cancellation or a scheduled change.

    Reached by the period-end timer or by the provider's renewal, whichever comes first.
    """
    state = ctx.state
    key = period_end_key(end)
    if key in state.done:
        return
    state.done.append(key)
    if state.cancel_at_period_end:
        await end_subscription(ctx, actor=actor, reason="cancel_at_period_end", key=key)
    elif state.scheduled_change is not None:
        change = state.scheduled_change
        assert state.interval is not None
        wanted = PlanChoice(change.plan, change.interval)
        kind = classify(ctx, PlanChoice(state.plan, state.interval), wanted)
        await apply_plan(ctx, wanted, kind, actor=actor, amount_cents=0, key=key)
