"""The customer workflow's effects on the world: ledger and read model, emails, in-app
notifications, the payment provider. Each is an activity; nothing here decides anything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.billing import (
        AttachPaymentMethodInput,
        BillingActivities,
        EnsureProviderCustomerInput,
        FetchInvoiceInput,
        FetchSubscriptionInput,
        InvoiceCommandInput,
        SubscriptionCommandInput,
    )
    from activities.customers import (
        ApplyTransitionInput,
        CustomerActivities,
        CustomerViewUpdate,
        LedgerEntry,
    )
    from activities.emails import EmailActivities, SendEmailInput
    from activities.notifications import NotificationActivities, NotifyInput
    from domain.emails import EmailTemplate
    from domain.failures import CALLER_FAILURES, PAYMENT_PROVIDER_UNAVAILABLE
    from domain.lifecycle import Status
    from domain.notifications import NotificationKind
    from domain.payments import InvoiceInfo, SubscriptionInfo
    from domain.provider_keys import provider_customer_key
    from workflows import search_attributes as sa
    from workflows.customer import patches, timetable
    from workflows.customer.context import SYSTEM_ACTOR, CustomerContext

T = TypeVar("T")

_DB_TIMEOUT = timedelta(seconds=15)
_DB_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
_EMAIL_TIMEOUT = timedelta(seconds=30)
# Providers have outages; an email is worth retrying for a long time, never twice.
_EMAIL_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
_PAYMENT_TIMEOUT = timedelta(seconds=20)
# A caller waits on commands: retry briefly, then report the provider as unavailable. The
# idempotency key stays the same across these attempts, so none charges twice.
_PAYMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=6,
)
# A caller's command while a timed step already finds the provider down: one quick look,
# then the caller hears 503 at once rather than after the full retry schedule.
_PAYMENT_RETRY_PROBE = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=1),
    maximum_attempts=2,
)
# Timers and events: a few tries, then the step stalls and backs off outside the lock.
_PAYMENT_RETRY_BACKGROUND = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=8),
    maximum_attempts=5,
)
# Before FAILED_STEPS_RETRY: retried until the provider answered, holding the lock.
_PAYMENT_RETRY_PATIENT = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- ledger and read model ---------------------------------------------------------------


async def move(
    ctx: CustomerContext,
    to_status: Status,
    kind: str,
    *,
    actor: str = SYSTEM_ACTOR,
    new_mrr: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    previous = ctx.state.status
    ctx.state.status = to_status
    await record(ctx, kind, from_status=previous, actor=actor, new_mrr=new_mrr, data=data)


async def record(
    ctx: CustomerContext,
    kind: str,
    *,
    from_status: Status | str | None = "same",
    actor: str = SYSTEM_ACTOR,
    new_mrr: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Mirror the state to the read model and append a ledger row, in one activity."""
    state = ctx.state
    previous_status = state.status if from_status == "same" else from_status
    delta = 0
    if new_mrr is not None:
        delta = new_mrr - state.mrr_cents
        state.mrr_cents = new_mrr
    state.ledger_seq += 1
    entry = LedgerEntry(
        event_key=f"{state.customer_id}:{state.ledger_seq}",
        kind=kind,
        actor=actor,
        occurred_at=workflow.now(),
        from_status=previous_status.value if isinstance(previous_status, Status) else None,
        to_status=state.status.value,
        plan=state.plan,
        interval=state.interval.value if state.interval else None,
        mrr_delta_cents=delta,
        data=data or {},
    )
    await sync_view(ctx, entry)


async def sync_view(ctx: CustomerContext, entry: LedgerEntry | None = None) -> None:
    state = ctx.state
    state.version += 1
    await _database_write(
        ctx,
        CustomerActivities.apply_transition,
        ApplyTransitionInput(
            customer_id=state.customer_id, version=state.version, view=_view(ctx), entry=entry
        ),
    )
    _upsert_visibility(ctx)


async def _database_write(
    ctx: CustomerContext, activity: Callable[[Any, Any], Awaitable[Any]], arg: Any
) -> None:
    """A short, idempotent write to the app database."""
    if ctx.since(patches.LEAN_RUNS):
        await workflow.execute_local_activity_method(
            activity, arg, start_to_close_timeout=_DB_TIMEOUT, retry_policy=_DB_RETRY
        )
        return
    await workflow.execute_activity_method(
        activity, arg, start_to_close_timeout=_DB_TIMEOUT, retry_policy=_DB_RETRY
    )


def _view(ctx: CustomerContext) -> CustomerViewUpdate:
    state = ctx.state
    change = state.scheduled_change
    return CustomerViewUpdate(
        status=state.status.value,
        plan=state.plan,
        interval=state.interval.value if state.interval else None,
        # The trial starts at sign-up.
        trial_started_at=state.signed_up_at,
        trial_ends_at=state.trial_ends_at,
        current_period_start=state.current_period_start,
        current_period_end=state.current_period_end,
        cancel_at_period_end=state.cancel_at_period_end,
        scheduled_change={
            "plan": change.plan,
            "interval": change.interval.value,
            "effective_at": change.effective_at.isoformat(),
        }
        if change
        else None,
        mrr_cents=state.mrr_cents,
        pause_resumes_at=state.pause_resumes_at,
        held_addons=sorted(state.addons),
        terms_version=ctx.terms_version,
        needs_attention=timetable.needs_attention(state, ctx.policy),
    )


def _upsert_visibility(ctx: CustomerContext) -> None:
    state = ctx.state
    current = workflow.info().typed_search_attributes
    wanted: list[tuple[SearchAttributeKey[Any], Any]] = [
        (sa.LIFECYCLE_STATUS, state.status.value),
        (sa.PLAN_ID, state.plan),
    ]
    if state.trial_ends_at is not None:
        wanted.append((sa.TRIAL_ENDS_AT, state.trial_ends_at))
    attention = timetable.needs_attention(state, ctx.policy)
    if attention or current.get(sa.NEEDS_ATTENTION):
        wanted.append((sa.NEEDS_ATTENTION, attention))
    upsert_search_attributes(ctx, wanted)


def upsert_search_attributes(
    ctx: CustomerContext, wanted: list[tuple[SearchAttributeKey[Any], Any]]
) -> None:
    current = workflow.info().typed_search_attributes
    if ctx.since(patches.LEAN_RUNS):
        wanted = [(key, value) for key, value in wanted if current.get(key) != value]
        if not wanted:
            return
    workflow.upsert_search_attributes([key.value_set(value) for key, value in wanted])


# -- messages to the customer --------------------------------------------------------------


async def email(
    ctx: CustomerContext, template: EmailTemplate, *, key: str, data: dict[str, Any]
) -> None:
    await workflow.execute_activity_method(
        EmailActivities.send_email,
        SendEmailInput(
            customer_id=ctx.customer_id,
            template=template,
            idempotency_key=f"{ctx.customer_id}:{key}",
            requested_at=workflow.now(),
            data=data,
        ),
        start_to_close_timeout=_EMAIL_TIMEOUT,
        retry_policy=_EMAIL_RETRY,
    )


async def notify(
    ctx: CustomerContext, kind: NotificationKind, *, key: str, data: dict[str, Any]
) -> None:
    await _database_write(
        ctx,
        NotificationActivities.notify,
        NotifyInput(
            customer_id=ctx.customer_id,
            kind=kind,
            dedupe_key=f"{ctx.customer_id}:{key}",
            created_at=workflow.now(),
            data=data,
        ),
    )


# -- the payment provider -------------------------------------------------------------------


def _payment_retry(ctx: CustomerContext) -> RetryPolicy:
    if ctx.caller_waiting:
        down = any(
            stall.error_type == PAYMENT_PROVIDER_UNAVAILABLE for stall in ctx.state.stalled.values()
        )
        return _PAYMENT_RETRY_PROBE if down else _PAYMENT_RETRY
    if ctx.fixed(patches.FAILED_STEPS_RETRY):
        return _PAYMENT_RETRY_BACKGROUND
    return _PAYMENT_RETRY_PATIENT


async def billing(
    ctx: CustomerContext, activity: Callable[[Any, Any], Awaitable[T]], arg: Any
) -> T:
    """Run a payment activity; a final failure becomes the command's failure as is."""
    try:
        return await workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=_PAYMENT_TIMEOUT,
            retry_policy=_payment_retry(ctx),
        )
    except ActivityError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in CALLER_FAILURES:
            raise ApplicationError(
                cause.message, *cause.details, type=cause.type, non_retryable=True
            ) from None
        raise ApplicationError(
            "the payment provider is unavailable; retry later",
            type=PAYMENT_PROVIDER_UNAVAILABLE,
            non_retryable=True,
        ) from None


async def ensure_provider_customer(ctx: CustomerContext) -> str:
    state = ctx.state
    if state.provider_customer_id is None:
        state.provider_customer_id = await billing(
            ctx,
            BillingActivities.ensure_provider_customer,
            EnsureProviderCustomerInput(
                customer_id=state.customer_id,
                idempotency_key=provider_customer_key(state.customer_id),
            ),
        )
    return state.provider_customer_id


async def attach_payment_method(
    ctx: CustomerContext, provider_customer_id: str, payment_method: str, seq: int
) -> None:
    """Attach a card and make it the default at the provider: the customer's, and the
    subscription's (its own card would win over the new one otherwise)."""
    attached = await billing(
        ctx,
        BillingActivities.attach_payment_method,
        AttachPaymentMethodInput(
            customer_id=ctx.customer_id,
            provider_customer_id=provider_customer_id,
            payment_method=payment_method,
            idempotency_key=ctx.key(seq, "attach"),
            subscription_id=ctx.state.subscription_id,
        ),
    )
    ctx.state.payment_method_id = attached.id


async def subscription_command(
    ctx: CustomerContext,
    command: str,
    seq: int,
    *,
    at_period_end: bool = False,
    resumes_at: datetime | None = None,
    idempotency_key: str | None = None,
    coupon: str | None = None,
) -> SubscriptionInfo:
    state = ctx.state
    assert state.subscription_id is not None
    return await billing(
        ctx,
        BillingActivities.subscription_command,
        SubscriptionCommandInput(
            customer_id=state.customer_id,
            subscription_id=state.subscription_id,
            command=command,
            idempotency_key=idempotency_key or ctx.key(seq, command),
            at_period_end=at_period_end,
            resumes_at=resumes_at,
            coupon=coupon,
        ),
    )


async def fetch_subscription(ctx: CustomerContext, subscription_id: str) -> SubscriptionInfo:
    return await billing(
        ctx,
        BillingActivities.fetch_subscription,
        FetchSubscriptionInput(customer_id=ctx.customer_id, subscription_id=subscription_id),
    )


async def fetch_invoice(ctx: CustomerContext, invoice_id: str) -> InvoiceInfo:
    return await billing(
        ctx,
        BillingActivities.fetch_invoice,
        FetchInvoiceInput(customer_id=ctx.customer_id, invoice_id=invoice_id),
    )


async def invoice_command(
    ctx: CustomerContext, command: str, invoice_id: str, suffix: str
) -> InvoiceInfo:
    return await billing(
        ctx,
        BillingActivities.invoice_command,
        InvoiceCommandInput(
            customer_id=ctx.customer_id,
            invoice_id=invoice_id,
            command=command,
            idempotency_key=f"{ctx.customer_id}:{suffix}",
        ),
    )


def adopt_period(ctx: CustomerContext, subscription: SubscriptionInfo) -> bool:
    state = ctx.state
    changed = (state.current_period_start, state.current_period_end) != (
        subscription.current_period_start,
        subscription.current_period_end,
    )
    state.current_period_start = subscription.current_period_start
    state.current_period_end = subscription.current_period_end
    return changed
