"""What the payment provider tells the engine (Stripe webhooks), and the resync that
replaces an event that could not be applied: read the provider's current state."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.changes import SUBSCRIBABLE, PlanChoice
    from domain.emails import EmailTemplate
    from domain.lifecycle import Status
    from domain.payments import PaymentEvent, SubscriptionInfo
    from workflows.customer import dunning, effects, patches, subscription
    from workflows.customer.context import PROVIDER_ACTOR, CustomerContext
    from workflows.customer.effects import iso
    from workflows.messages import ScheduledChange

# Stripe's ``cancellation_details.reason`` values that are not the customer's choice.
INVOLUNTARY = ("payment_failed", "payment_disputed")
# Recently applied provider event ids (redeliveries change nothing).
SEEN_EVENTS_KEPT = 200
_LIVE = ("active", "trialing")
# A Checkout subscription whose first payment has not gone through (yet, or ever).
_NOT_STARTED = ("incomplete", "incomplete_expired")
_CHECKOUT_PAID = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


async def on_payment_event(ctx: CustomerContext, event: PaymentEvent) -> None:
    state = ctx.state
    if event.id in state.seen_events:
        return
    state.seen_events = [*state.seen_events, event.id][-SEEN_EVENTS_KEPT:]
    if ctx.fixed(patches.PROVIDER_EVENTS_READ_CURRENT, patches.PROVIDER_STATE_READ):
        await _on_notice(ctx, event)
        return
    if event.type == "checkout.session.completed" or (
        event.type in _CHECKOUT_PAID and ctx.fixed(patches.ADOPT_PENDING_CHECKOUT)
    ):
        if state.status in SUBSCRIBABLE and event.checkout_subscription_id:
            await _checkout_subscription(ctx, event.checkout_subscription_id)
        return
    if event.type in ("payment_method.attached", "customer.updated"):
        # The card may have changed in the Customer Portal.
        await dunning.payment_method_changed(ctx, PROVIDER_ACTOR)
        return
    subscription_id = (
        event.subscription.id
        if event.subscription is not None
        else event.invoice.subscription
        if event.invoice is not None
        else None
    )
    if (
        subscription_id is not None
        and subscription_id == state.pending_subscription_id
        and state.status in SUBSCRIBABLE
        and ctx.fixed(patches.ADOPT_PENDING_CHECKOUT)
    ):
        # The first payment of a Checkout subscription went through after all.
        await _checkout_subscription(ctx, subscription_id)
        return
    if subscription_id is None or subscription_id != state.subscription_id:
        return
    if state.provider_as_of is not None and event.created < state.provider_as_of:
        # Older than what was already applied: never roll state back.
        return
    if event.invoice is None:
        assert event.subscription is not None
        await reconcile(ctx, event.subscription, as_of=event.created)
        return
    # Invoice events say something happened to the subscription; ask what, first.
    invoice = event.invoice
    await reconcile(
        ctx, await effects.fetch_subscription(ctx, subscription_id), as_of=event.created
    )
    if (
        event.type == "invoice.payment_failed"
        and state.status is Status.ACTIVE
        and invoice.status == "open"
    ):
        await dunning.payment_failed(ctx, invoice)
    elif (
        event.type in ("invoice.paid", "invoice.payment_succeeded")
        and state.status is Status.PAST_DUE
        and state.dunning is not None
        and invoice.id == state.dunning.invoice_id
    ):
        await dunning.recover(ctx, via="payment", actor=PROVIDER_ACTOR, invoice=invoice)


def _subscription_of(event: PaymentEvent) -> str | None:
    if event.subscription_id is not None:
        return event.subscription_id
    # Events queued before the API sent ids only.
    if event.subscription is not None:
        return event.subscription.id
    if event.invoice is not None:
        return event.invoice.subscription
    return event.checkout_subscription_id


async def _on_notice(ctx: CustomerContext, event: PaymentEvent) -> None:
    """An event says an object changed: read it as the provider has it now and apply that.

    Any order and any repetition of the same events ends in the same state, because what
    is applied is the provider's current state, which the engine's own commands (applied
    under the same lock, before) already show."""
    state = ctx.state
    kind = event.type
    subscription_id = _subscription_of(event)
    if kind.startswith("checkout.session."):
        if kind == "checkout.session.async_payment_failed":
            await _checkout_failed(ctx, subscription_id)
        elif (
            state.status in SUBSCRIBABLE
            and subscription_id is not None
            # A late copy about a subscription adopted (and maybe ended) long ago.
            and subscription_id != state.subscription_id
        ):
            await _checkout_subscription(ctx, subscription_id)
        return
    if kind.startswith("payment_method.") or kind == "customer.updated":
        # The card may have changed in the Customer Portal, been detached, or renewed by
        # the card network.
        await dunning.payment_method_changed(ctx, PROVIDER_ACTOR)
        return
    if subscription_id is None:
        return
    if subscription_id == state.pending_subscription_id and state.status in SUBSCRIBABLE:
        # The first payment of a Checkout subscription went through (or not) since.
        await _checkout_subscription(ctx, subscription_id)
        return
    if subscription_id != state.subscription_id or state.status is Status.CANCELED:
        return
    invoice_id = event.invoice_id or (event.invoice.id if event.invoice is not None else None)
    if (
        kind == "invoice.payment_action_required"
        and invoice_id is not None
        # Asked already, from the decline (the event comes late, or twice).
        and not (
            state.confirmation_asked_for == invoice_id
            and workflow.patched(patches.CONFIRM_ON_AUTHENTICATION_DECLINE)
        )
    ):
        invoice = await effects.fetch_invoice(ctx, invoice_id)
        if invoice.status == "open" and invoice.requires_action:
            await dunning.action_required(ctx, invoice)
    await apply_current(ctx, subscription_id)


async def apply_current(ctx: CustomerContext, subscription_id: str) -> None:
    """Bring the lifecycle in line with the subscription as the provider has it now."""
    state = ctx.state
    found = await effects.fetch_subscription(ctx, subscription_id)
    dunning_invoice = state.dunning.invoice_id if state.dunning is not None else None
    await reconcile(ctx, found, as_of=workflow.now(), settle_dunning=False)
    if state.status is Status.CANCELED:
        return
    latest = found.latest_invoice
    if (
        state.status is Status.PAST_DUE
        and dunning_invoice is not None
        and found.status != "past_due"
    ):
        # No longer past due at the provider: the invoice says how it closed.
        invoice = await effects.fetch_invoice(ctx, dunning_invoice)
        if invoice.status == "paid":
            await dunning.recover(ctx, via="payment", actor=PROVIDER_ACTOR, invoice=invoice)
        elif invoice.status in ("void", "uncollectible"):
            await dunning.invoice_closed(ctx, invoice, PROVIDER_ACTOR)
    if (
        state.status is Status.ACTIVE
        and found.status == "past_due"
        and latest is not None
        and latest.status == "open"
    ):
        # A renewal failed. The decline code sits on the invoice's PaymentIntent.
        await dunning.payment_failed(ctx, await effects.fetch_invoice(ctx, latest.id))


async def _checkout_failed(ctx: CustomerContext, subscription_id: str | None) -> None:
    """A delayed payment method (a bank debit) failed after Checkout completed."""
    state = ctx.state
    if subscription_id is None or subscription_id != state.pending_subscription_id:
        return
    state.pending_subscription_id = None
    await effects.record(
        ctx,
        "checkout_payment_failed",
        actor=PROVIDER_ACTOR,
        data={"subscription_id": subscription_id},
    )
    await effects.email(
        ctx,
        EmailTemplate.CHECKOUT_PAYMENT_FAILED,
        key=f"checkout_payment_failed:{subscription_id}",
        data=ctx.plan_data(),
    )


async def _checkout_processing(ctx: CustomerContext, subscription_id: str) -> None:
    """Checkout completed with a method that settles days later (a SEPA debit, a boleto):
    the customer hears that the payment is under way, so silence until it clears does not
    read as a failure."""
    await effects.record(
        ctx,
        "checkout_payment_processing",
        actor=PROVIDER_ACTOR,
        data={"subscription_id": subscription_id},
    )
    await effects.email(
        ctx,
        EmailTemplate.CHECKOUT_PAYMENT_PROCESSING,
        key=f"checkout_payment_processing:{subscription_id}",
        data=ctx.plan_data(),
    )


async def _checkout_subscription(ctx: CustomerContext, subscription_id: str) -> None:
    """Adopt a subscription made in Checkout once it is live; remember it until then."""
    state = ctx.state
    found = await effects.fetch_subscription(ctx, subscription_id)
    if ctx.since(patches.PROVIDER_STATE_READ) and found.status not in _NOT_STARTED:
        # Whatever happened to it since (a failed renewal, a Portal change, a cancellation,
        # their events still on the way) applies at once, so the order of arrival does
        # not matter.
        state.provider_customer_id = found.customer
        _bill_in_charged_currency(ctx, found)
        await subscription.start_subscription(ctx, found, PROVIDER_ACTOR, via="checkout")
        await dunning.payment_method_changed(ctx, PROVIDER_ACTOR)
        await apply_current(ctx, subscription_id)
    elif found.status in _LIVE:
        state.provider_customer_id = found.customer
        _bill_in_charged_currency(ctx, found)
        await subscription.start_subscription(ctx, found, PROVIDER_ACTOR, via="checkout")
        await dunning.payment_method_changed(ctx, PROVIDER_ACTOR)
    elif found.status == "incomplete" and ctx.fixed(patches.ADOPT_PENDING_CHECKOUT):
        # 3-D Secure or a delayed method: the first invoice is not paid yet.
        first_heard = state.pending_subscription_id != subscription_id
        state.pending_subscription_id = subscription_id
        state.provider_customer_id = found.customer
        latest = found.latest_invoice
        waits_for_bank = latest is None or not latest.requires_action
        if first_heard and waits_for_bank and workflow.patched(patches.CHECKOUT_PAYMENT_PROCESSING):
            await _checkout_processing(ctx, subscription_id)
    elif (
        found.status == "incomplete_expired"
        and state.pending_subscription_id == subscription_id
        and ctx.since(patches.PROVIDER_STATE_READ)
    ):
        await _checkout_failed(ctx, subscription_id)


def _bill_in_charged_currency(ctx: CustomerContext, found: SubscriptionInfo) -> None:
    """Checkout charges the customer's currency of the moment, which a trial may have
    changed since its terms were made: the workflow's amounts follow the charge."""
    charged = found.currency
    catalog = ctx.catalog
    if (
        charged
        and charged != catalog.currency
        and catalog.sells_in(charged)
        # A catalog at a book's prices (a region's, an experiment's) no longer holds the
        # book's prices in other currencies: it is left as it was.
        and catalog.price_book is None
        and workflow.patched(patches.CHECKOUT_IN_BILLED_CURRENCY)
    ):
        ctx.state.billed_currency = charged


async def resync(ctx: CustomerContext) -> None:
    """Read what the provider knows now and apply it, in place of events that failed."""
    state = ctx.state
    if state.pending_subscription_id is not None and state.status in SUBSCRIBABLE:
        await _checkout_subscription(ctx, state.pending_subscription_id)
    await dunning.payment_method_changed(ctx, PROVIDER_ACTOR)
    if state.subscription_id is None or state.status is Status.CANCELED:
        return
    if ctx.since(patches.PROVIDER_STATE_READ):
        await apply_current(ctx, state.subscription_id)
        return
    current = await effects.fetch_subscription(ctx, state.subscription_id)
    await reconcile(ctx, current, as_of=workflow.now())
    invoice = current.latest_invoice
    if (
        current.status == "past_due"
        and state.status is Status.ACTIVE
        and invoice is not None
        and invoice.status == "open"
    ):
        await dunning.payment_failed(ctx, invoice)


async def reconcile(
    ctx: CustomerContext,
    found: SubscriptionInfo,
    *,
    as_of: datetime,
    settle_dunning: bool = True,
) -> None:
    """Bring the lifecycle in line with the provider's view of the subscription.

    ``settle_dunning``: an active subscription ends dunning as paid (older runs); newer
    runs ask the dunning invoice what closed it (``apply_current``)."""
    state = ctx.state
    state.provider_as_of = max(as_of, state.provider_as_of or as_of)
    if state.status is Status.CANCELED:
        return
    if found.status in ("canceled", "incomplete_expired"):
        reason = "cancel_at_period_end" if state.cancel_at_period_end else "provider"
        if found.cancellation_reason in INVOLUNTARY and ctx.since(patches.PROVIDER_STATE_READ):
            # Stripe ended it itself: its retries failed, or the payment was disputed.
            reason = found.cancellation_reason
        if ctx.since(patches.PROVIDER_STATE_READ):
            state.dunning = None
        await subscription.end_subscription(
            ctx, actor=PROVIDER_ACTOR, reason=reason, key=f"ended:{found.id}"
        )
        return
    rolled = (
        state.current_period_end is not None
        and found.current_period_start >= state.current_period_end
    )
    if rolled:
        assert state.current_period_end is not None
        await subscription.period_ended(ctx, state.current_period_end, actor=PROVIDER_ACTOR)
        if state.status is Status.CANCELED:
            return
    changed = effects.adopt_period(ctx, found)
    if rolled:
        invoice = found.latest_invoice
        await effects.record(
            ctx,
            "subscription_renewed",
            actor=PROVIDER_ACTOR,
            data={
                "period_start": iso(found.current_period_start),
                "period_end": iso(found.current_period_end),
                "invoice_id": invoice.id if invoice else None,
                "amount_paid_cents": invoice.amount_paid_cents if invoice else None,
            },
        )
        changed = False
    price = found.price
    if price is not None and (price.plan, price.interval) != (state.plan, state.interval):
        await _provider_changed_plan(ctx, found, PlanChoice(price.plan, price.interval), as_of)
    if settle_dunning and found.status == "active" and state.status is Status.PAST_DUE:
        # Paid outside the engine's retries (the hosted invoice page, the portal).
        await dunning.recover(ctx, via="payment", actor=PROVIDER_ACTOR, invoice=None)
    if ctx.since(patches.PROVIDER_STATE_READ):
        await _adopt_schedule(ctx, found)
    if found.paused and state.status is Status.ACTIVE:
        state.pause_resumes_at = found.pause_resumes_at
        await effects.move(
            ctx, Status.PAUSED, "subscription_paused", actor=PROVIDER_ACTOR, new_mrr=0
        )
    elif not found.paused and state.status is Status.PAUSED:
        await subscription.resume(ctx, PROVIDER_ACTOR, call_provider=False)
    if found.cancel_at_period_end != state.cancel_at_period_end:
        state.cancel_at_period_end = found.cancel_at_period_end
        await effects.record(
            ctx,
            "cancellation_scheduled" if found.cancel_at_period_end else "cancellation_withdrawn",
            actor=PROVIDER_ACTOR,
        )
    elif changed:
        await effects.sync_view(ctx)


async def _provider_changed_plan(
    ctx: CustomerContext, found: SubscriptionInfo, wanted: PlanChoice, as_of: datetime
) -> None:
    """The plan was changed outside the engine, e.g. in the Customer Portal."""
    state = ctx.state
    assert state.interval is not None
    key = f"provider_change:{found.id}:{as_of.isoformat()}"
    if wanted.plan not in ctx.catalog.plans:
        # A price the customer's terms do not know: keep what the engine knows, and say so.
        await effects.record(
            ctx,
            "automation_failed",
            actor=PROVIDER_ACTOR,
            data={
                "step": key,
                "error": f"the provider's price is for plan {wanted.plan!r}, not in the catalog",
                "type": "UnknownPlan",
            },
        )
        return
    kind = subscription.classify(ctx, PlanChoice(state.plan, state.interval), wanted)
    await subscription.apply_plan(ctx, wanted, kind, actor=PROVIDER_ACTOR, amount_cents=0, key=key)


async def _adopt_schedule(ctx: CustomerContext, found: SubscriptionInfo) -> None:
    """A change scheduled for the period end outside the engine (a Portal downgrade), or
    one the Portal released."""
    state = ctx.state
    wanted = found.scheduled_price
    if wanted is None:
        if state.scheduled_change is not None:
            state.scheduled_change = None
            await effects.record(ctx, "plan_change_withdrawn", actor=PROVIDER_ACTOR)
        return
    if wanted.plan not in ctx.catalog.plans:
        return
    scheduled = state.scheduled_change
    if scheduled is not None and (scheduled.plan, scheduled.interval) == (
        wanted.plan,
        wanted.interval,
    ):
        return
    state.scheduled_change = ScheduledChange(
        plan=wanted.plan, interval=wanted.interval, effective_at=found.current_period_end
    )
    await effects.record(
        ctx,
        "plan_change_scheduled",
        actor=PROVIDER_ACTOR,
        data={
            "to_plan": wanted.plan,
            "to_interval": wanted.interval.value,
            "effective_at": iso(found.current_period_end),
        },
    )
