"""Payment failures: past_due, retries on the policy's schedule, recovery, final action."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.billing import (
        BillingActivities,
        ChangePriceInput,
        SyncPaymentMethodInput,
    )
    from domain.changes import ChangeKind, PlanChoice
    from domain.declines import is_hard_decline
    from domain.emails import EmailTemplate
    from domain.failures import CARD_DECLINED, PAYMENT_METHOD_REQUIRED
    from domain.lifecycle import Status
    from domain.notifications import NotificationKind
    from domain.payments import InvoiceInfo
    from domain.policy import FinalAction
    from workflows.customer import effects, patches, subscription
    from workflows.customer.context import PROVIDER_ACTOR, SYSTEM_ACTOR, CustomerContext
    from workflows.customer.effects import iso
    from workflows.customer.timetable import next_retry_after
    from workflows.messages import Dunning, UpdatePaymentMethod

# Stripe's decline code (and error code) of a payment that needs 3-D Secure.
AUTHENTICATION_REQUIRED = "authentication_required"


async def payment_failed(ctx: CustomerContext, invoice: InvoiceInfo) -> None:
    """A renewal could not be charged: past_due, then retries on the policy's schedule."""
    state = ctx.state
    retries = ctx.policy.dunning.retries
    now = workflow.now()
    state.dunning = Dunning(
        invoice_id=invoice.id, started_at=now, attempts=1, next_retry_at=now + retries[0]
    )
    if ctx.since(patches.PROVIDER_STATE_READ):
        state.dunning.hard_decline = is_hard_decline(invoice.decline_code)
    await effects.move(
        ctx,
        Status.PAST_DUE,
        "payment_failed",
        actor=PROVIDER_ACTOR,
        data={
            "invoice_id": invoice.id,
            "attempt": 1,
            "amount_due_cents": invoice.amount_due_cents,
            "decline_code": invoice.decline_code,
        },
    )
    if needs_authentication(invoice) and workflow.patched(
        patches.CONFIRM_ON_AUTHENTICATION_DECLINE
    ):
        # The bank wants the customer present, not another card.
        if state.confirmation_asked_for != invoice.id:
            await action_required(ctx, invoice)
        return
    await tell_payment_failed(ctx)


def needs_authentication(invoice: InvoiceInfo) -> bool:
    """The payment waits for 3-D Secure, as the failed payment itself says."""
    return invoice.requires_action or invoice.decline_code == AUTHENTICATION_REQUIRED


async def tell_payment_failed(ctx: CustomerContext) -> None:
    dunning = ctx.state.dunning
    assert dunning is not None
    data = {
        **ctx.plan_data(),
        "attempt": dunning.attempts,
        "invoice_id": dunning.invoice_id,
        "next_retry_at": iso(dunning.next_retry_at),
    }
    key = f"payment_failed:{dunning.invoice_id}:{dunning.attempts}"
    await effects.email(ctx, EmailTemplate.PAYMENT_FAILED, key=key, data=data)
    await effects.notify(ctx, NotificationKind.PAYMENT_FAILED, key=key, data=data)


def _card_failure(ctx: CustomerContext, exc: ApplicationError) -> bool:
    """The customer's card (or its absence) is why the payment failed: dunning goes on."""
    if exc.type == CARD_DECLINED:
        return True
    return exc.type == PAYMENT_METHOD_REQUIRED and ctx.fixed(patches.DUNNING_CATCH_UP)


async def retry(ctx: CustomerContext) -> None:
    """A scheduled retry: charge the open invoice again. A failure other than the card's
    propagates, and the step stalls and backs off (see ``CustomerWorkflow``)."""
    dunning = ctx.state.dunning
    assert dunning is not None
    if dunning.hard_decline:
        # The same card would be declined again (and the card network counts each try):
        # the attempt passes without a charge, and the customer is asked for a new card.
        await retry_failed(ctx, charged=False)
        return
    try:
        invoice = await effects.invoice_command(
            ctx, "pay", dunning.invoice_id, f"dunning:{dunning.invoice_id}:{dunning.attempts + 1}"
        )
    except ApplicationError as exc:
        if not _card_failure(ctx, exc):
            # Not the card (the invoice was voided, say): an admin has to look.
            raise
        if ctx.since(patches.PROVIDER_STATE_READ):
            dunning.hard_decline = is_hard_decline(_decline_code(exc))
        await retry_failed(ctx, authentication=_decline_code(exc) == AUTHENTICATION_REQUIRED)
        return
    if invoice.status == "paid":
        await recover(ctx, via="retry", actor=SYSTEM_ACTOR, invoice=invoice)
    elif ctx.fixed(patches.DUNNING_CATCH_UP):
        # Not charged and not declined (the card needs the customer, say): a failed try.
        await retry_failed(ctx, authentication=needs_authentication(invoice), invoice=invoice)


def _decline_code(exc: ApplicationError) -> str | None:
    details = exc.details[0] if exc.details else None
    return details.get("decline_code") if isinstance(details, dict) else None


async def retry_failed(
    ctx: CustomerContext,
    *,
    charged: bool = True,
    authentication: bool = False,
    invoice: InvoiceInfo | None = None,
) -> None:
    """``authentication``: the retry failed for want of 3-D Secure (``invoice``: the open
    invoice, when the retry returned it)."""
    state = ctx.state
    dunning = state.dunning
    assert dunning is not None
    retries = ctx.policy.dunning.retries
    dunning.attempts += 1
    catch_up = ctx.fixed(patches.DUNNING_CATCH_UP)
    if catch_up:
        _, dunning.next_retry_at = next_retry_after(dunning.started_at, retries, 0, workflow.now())
    else:
        retries_done = dunning.attempts - 1
        dunning.next_retry_at = (
            dunning.started_at + retries[retries_done] if retries_done < len(retries) else None
        )
    data: dict[str, object] = {"invoice_id": dunning.invoice_id, "attempt": dunning.attempts}
    if not charged:
        data["skipped"] = "hard_decline"
    await effects.record(ctx, "payment_retry_failed", data=data)
    if (
        authentication
        and state.confirmation_asked_for == dunning.invoice_id
        and workflow.patched(patches.CONFIRMATION_REMINDER_ON_RETRY)
    ):
        # Still waiting for the customer's bank: remind them where to confirm, not to
        # change a card that works.
        open_invoice = invoice or await effects.fetch_invoice(ctx, dunning.invoice_id)
        await remind_confirmation(ctx, open_invoice, dunning.attempts)
    else:
        await tell_payment_failed(ctx)
    if dunning.next_retry_at is None:
        if catch_up:
            # The final action is a step of its own: retried (not lost) if it fails.
            dunning.final_action_at = workflow.now()
        else:
            await final_action(ctx, stable_keys=False)


async def recover(
    ctx: CustomerContext, *, via: str, actor: str, invoice: InvoiceInfo | None
) -> None:
    state = ctx.state
    dunning = state.dunning
    assert dunning is not None
    state.dunning = None
    await effects.move(
        ctx,
        Status.ACTIVE,
        "payment_recovered",
        actor=actor,
        data={
            "via": via,
            "invoice_id": dunning.invoice_id,
            "attempts": dunning.attempts,
            "amount_paid_cents": invoice.amount_paid_cents if invoice else None,
        },
    )
    data = {
        **ctx.plan_data(),
        "amount_cents": invoice.amount_paid_cents if invoice else 0,
        "currency": invoice.currency if invoice else ctx.catalog.currency,
    }
    key = f"payment_recovered:{dunning.invoice_id}"
    await effects.email(ctx, EmailTemplate.PAYMENT_RECOVERED, key=key, data=data)
    await effects.notify(ctx, NotificationKind.PAYMENT_RECOVERED, key=key, data=data)


async def invoice_closed(ctx: CustomerContext, invoice: InvoiceInfo, actor: str) -> None:
    """The invoice in dunning was voided or written off outside the engine (the Dashboard):
    nothing is left to collect, so dunning ends and the subscription is in good standing."""
    state = ctx.state
    dunning = state.dunning
    assert dunning is not None
    state.dunning = None
    await effects.move(
        ctx,
        Status.ACTIVE,
        "dunning_ended",
        actor=actor,
        data={
            "invoice_id": dunning.invoice_id,
            "invoice_status": invoice.status,
            "attempts": dunning.attempts,
        },
    )


async def action_required(ctx: CustomerContext, invoice: InvoiceInfo) -> None:
    """A renewal waits for the customer's bank (3-D Secure): tell them where to confirm."""
    data = {
        **ctx.plan_data(),
        "invoice_id": invoice.id,
        "amount_cents": invoice.amount_due_cents,
        "currency": invoice.currency,
        "hosted_invoice_url": invoice.hosted_invoice_url,
    }
    key = f"payment_action_required:{invoice.id}"
    ctx.state.confirmation_asked_for = invoice.id
    await effects.record(
        ctx,
        "payment_action_required",
        actor=PROVIDER_ACTOR,
        data={"invoice_id": invoice.id, "amount_due_cents": invoice.amount_due_cents},
    )
    await effects.email(ctx, EmailTemplate.PAYMENT_ACTION_REQUIRED, key=key, data=data)
    await effects.notify(ctx, NotificationKind.PAYMENT_ACTION_REQUIRED, key=key, data=data)


async def remind_confirmation(ctx: CustomerContext, invoice: InvoiceInfo, attempt: int) -> None:
    """A retry found the renewal still waiting for 3-D Secure: the confirmation link again,
    once per attempt (the ledger has the attempt's ``payment_retry_failed``)."""
    dunning = ctx.state.dunning
    data = {
        **ctx.plan_data(),
        "invoice_id": invoice.id,
        "amount_cents": invoice.amount_due_cents,
        "currency": invoice.currency,
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "attempt": attempt,
        "next_retry_at": iso(dunning.next_retry_at) if dunning is not None else None,
    }
    key = f"payment_action_required:{invoice.id}:{attempt}"
    await effects.email(ctx, EmailTemplate.PAYMENT_ACTION_REQUIRED, key=key, data=data)
    await effects.notify(ctx, NotificationKind.PAYMENT_ACTION_REQUIRED, key=key, data=data)


async def final_action(ctx: CustomerContext, *, stable_keys: bool = True) -> None:
    """The last retry failed: the policy's final action.

    ``stable_keys``: provider idempotency keys derive from the invoice, so a retry of this
    step after a failure repeats the provider's first answer instead of acting twice."""
    state = ctx.state
    dunning = state.dunning
    assert dunning is not None
    policy = ctx.policy.dunning
    seq = ctx.next_command()
    key = f"dunning_exhausted:{dunning.invoice_id}"
    token = f"dunning_final:{dunning.invoice_id}" if stable_keys else str(seq)
    if policy.final_action is FinalAction.DOWNGRADE and policy.downgrade_plan:
        assert state.interval is not None and state.subscription_id is not None
        await effects.invoice_command(
            ctx, "mark_uncollectible", dunning.invoice_id, f"{token}:write_off"
        )
        target = PlanChoice(policy.downgrade_plan, state.interval)
        changed = await effects.billing(
            ctx,
            BillingActivities.change_price,
            ChangePriceInput(
                customer_id=state.customer_id,
                subscription_id=state.subscription_id,
                plan=target.plan,
                interval=target.interval,
                proration="none",
                idempotency_key=f"{state.customer_id}:{token}:dunning_downgrade",
            ),
        )
        effects.adopt_period(ctx, changed)
        state.dunning = None
        state.status = Status.ACTIVE
        await subscription.apply_plan(
            ctx,
            target,
            ChangeKind.DOWNGRADE,
            actor=SYSTEM_ACTOR,
            amount_cents=0,
            key=key,
            reason="dunning_exhausted",
            from_status=Status.PAST_DUE,
        )
        return
    await effects.subscription_command(
        ctx,
        "cancel",
        seq,
        at_period_end=False,
        idempotency_key=f"{state.customer_id}:{token}:cancel" if stable_keys else None,
    )
    state.dunning = None
    await subscription.end_subscription(
        ctx, actor=SYSTEM_ACTOR, reason="dunning_exhausted", key=key
    )
    await effects.notify(ctx, NotificationKind.SUBSCRIPTION_CANCELED, key=key, data=ctx.plan_data())


# -- a new card -----------------------------------------------------------------------------


async def update_payment_method(ctx: CustomerContext, command: UpdatePaymentMethod) -> None:
    state = ctx.state
    provider_customer = await effects.ensure_provider_customer(ctx)
    seq = ctx.next_command()
    await effects.attach_payment_method(ctx, provider_customer, command.payment_method, seq)
    await effects.record(ctx, "payment_method_updated", actor=command.actor)
    if state.status is Status.PAST_DUE and state.dunning is not None:
        # A new card is the likeliest fix: retry now rather than at the next step.
        dunning = state.dunning
        if ctx.since(patches.PROVIDER_STATE_READ):
            dunning.hard_decline = False
        suffix = f"dunning:{dunning.invoice_id}:card:{seq}"
        if ctx.request_id is not None:
            suffix = ctx.key(seq, f"pay:{dunning.invoice_id}").removeprefix(f"{state.customer_id}:")
        invoice = await effects.invoice_command(ctx, "pay", dunning.invoice_id, suffix)
        if invoice.status == "paid":
            await recover(ctx, via="new_card", actor=command.actor, invoice=invoice)


async def payment_method_changed(ctx: CustomerContext, actor: str) -> None:
    """Mirror the provider's default card; a new card while past due retries at once."""
    state = ctx.state
    if state.provider_customer_id is None:
        return
    method = await effects.billing(
        ctx,
        BillingActivities.sync_payment_method,
        SyncPaymentMethodInput(
            customer_id=state.customer_id,
            provider_customer_id=state.provider_customer_id,
            subscription_id=state.subscription_id,
        ),
    )
    previous, state.payment_method_id = state.payment_method_id, method.id if method else None
    dunning = state.dunning
    if (
        method is None
        or method.id == previous
        or state.status is not Status.PAST_DUE
        or dunning is None
    ):
        return
    current = ctx.since(patches.PROVIDER_STATE_READ)
    if current:
        dunning.hard_decline = False  # a new card: the schedule's retries charge it again
    try:
        invoice = await effects.invoice_command(
            ctx, "pay", dunning.invoice_id, f"dunning:{dunning.invoice_id}:card:{method.id}"
        )
    except ApplicationError as exc:
        if not _card_failure(ctx, exc):
            raise
        if current:
            dunning.hard_decline = is_hard_decline(_decline_code(exc))
        return
    if invoice.status == "paid":
        await recover(ctx, via="new_card", actor=actor, invoice=invoice)
