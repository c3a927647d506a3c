"""One workflow per customer: the lifecycle state machine, its timers and its commands.

Commands arrive as Temporal Updates (validated first, so a refused command never enters
the history); provider events arrive as signals. Both, and the timed actions of the main
loop, run one at a time under a lock, so a command never interleaves with a renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.billing import (
        CARD_DECLINED,
        PAYMENT_METHOD_REQUIRED,
        PAYMENT_REQUEST_REJECTED,
        AttachPaymentMethodInput,
        BillingActivities,
        ChangePriceInput,
        CreateSubscriptionInput,
        EnsureProviderCustomerInput,
        EraseProviderCustomerInput,
        FetchSubscriptionInput,
        InvoiceCommandInput,
        PurchaseAddonInput,
        SchedulePriceChangeInput,
        SubscriptionCommandInput,
        SyncPaymentMethodInput,
    )
    from activities.customers import (
        ApplyTransitionInput,
        CustomerActivities,
        CustomerViewUpdate,
        LedgerEntry,
    )
    from activities.emails import EmailActivities, SendEmailInput
    from activities.notifications import NotificationActivities, NotifyInput
    from activities.policy import PolicyActivities
    from activities.privacy import ErasePersonalDataInput, PrivacyActivities
    from adapters.payments.base import (
        InvoiceInfo,
        PaymentEvent,
        SubscriptionInfo,
        addon_lookup_key,
    )
    from domain.catalog import Catalog
    from domain.changes import (
        SUBSCRIBABLE,
        ChangeKind,
        PlanChoice,
        classify_change,
        require_status,
        require_subscribable_plan,
    )
    from domain.emails import EmailTemplate
    from domain.lifecycle import BillingInterval, Status, TransitionRefused
    from domain.notifications import NotificationKind
    from domain.policy import FinalAction, Policy
    from domain.trial import TrialAction, TrialStep, trial_timetable
    from workflows import search_attributes as sa
    from workflows.messages import (
        CancelSubscription,
        ChangeSubscription,
        CustomerSnapshot,
        CustomerState,
        CustomerWorkflowInput,
        Dunning,
        EraseCustomer,
        ExtendTrial,
        NextAction,
        PauseSubscription,
        PurchaseAddon,
        ReactivateSubscription,
        ResumeSubscription,
        ScheduledChange,
        UpdatePaymentMethod,
        UsageThresholdCrossed,
    )

SYSTEM_ACTOR = "system"
PROVIDER_ACTOR = "stripe"
TRANSITION_REFUSED = "TransitionRefused"
PAYMENT_PROVIDER_UNAVAILABLE = "PaymentProviderUnavailable"
# Failures a command reports to its caller as they are (card declined, ...).
_CALLER_FAILURES = {CARD_DECLINED, PAYMENT_METHOD_REQUIRED, PAYMENT_REQUEST_REJECTED}
_SEEN_EVENTS_KEPT = 200

_DB_TIMEOUT = timedelta(seconds=15)
_DB_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
_EMAIL_TIMEOUT = timedelta(seconds=30)
# Providers have outages; an email is worth retrying for a long time, never twice.
_EMAIL_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
_PAYMENT_TIMEOUT = timedelta(seconds=20)
# A caller waits on commands: retry briefly, then report the provider as unavailable.
# The idempotency key stays the same across these attempts, so none charges twice.
_PAYMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=6,
)
# Nobody waits on timers and provider events: retry until the provider is back.
_PAYMENT_RETRY_PATIENT = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)

T = TypeVar("T")


@dataclass(frozen=True)
class _Due:
    key: str
    at: datetime
    run: Callable[[], Awaitable[None]]


def _refused(exc: TransitionRefused) -> ApplicationError:
    return ApplicationError(str(exc), type=TRANSITION_REFUSED, non_retryable=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@workflow.defn(name="CustomerLifecycle")
class CustomerWorkflow:
    @workflow.init
    def __init__(self, params: CustomerWorkflowInput) -> None:
        self._policy: Policy = params.policy
        self._catalog: Catalog = params.catalog
        self._state: CustomerState = params.state or self._new_state(params)
        self._wake = False
        self._lock = asyncio.Lock()
        self._erased = False
        # True while a command's caller waits on the result: provider calls then give up
        # quickly and report; timers and events instead retry until the provider answers.
        self._caller_waiting = False

    def _new_state(self, params: CustomerWorkflowInput) -> CustomerState:
        trial = params.policy.trial
        return CustomerState(
            customer_id=params.customer_id,
            status=Status.TRIALING,
            plan=trial.plan,
            signed_up_at=params.signed_up_at,
            trial_started_at=params.signed_up_at,
            trial_ends_at=params.signed_up_at + trial.length,
            trial_planned_from=params.signed_up_at,
        )

    @workflow.run
    async def run(self, params: CustomerWorkflowInput) -> None:
        if params.state is None:
            await self._start_trial()
        while True:
            async with self._lock:
                # An erasure may have finished while this loop waited for the lock.
                if not self._erased:
                    await self._perform_due_actions()
            if self._erased:
                # The lifecycle is over; let the erase update answer its caller first.
                await workflow.wait_condition(workflow.all_handlers_finished)
                return
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            upcoming = self._next_due()
            self._wake = False
            timeout = None
            if upcoming is not None:
                timeout = max(upcoming.at - workflow.now(), timedelta(0))
            with contextlib.suppress(TimeoutError):
                # Erasure counts on its own: its wake-up may land before ``_wake`` is reset.
                await workflow.wait_condition(lambda: self._wake or self._erased, timeout=timeout)

    # -- query -----------------------------------------------------------------------

    @workflow.query(name="state")
    def snapshot(self) -> CustomerSnapshot:
        upcoming = self._next_due()
        return CustomerSnapshot(
            state=self._state,
            next_action=NextAction(key=upcoming.key, at=upcoming.at) if upcoming else None,
            policy=self._policy,
        )

    # -- timed actions -----------------------------------------------------------------

    def _due_actions(self) -> list[_Due]:
        state, done = self._state, set(self._state.done)
        due: list[_Due] = []
        if state.status in (Status.TRIALING, Status.TRIAL_EXPIRED):
            assert state.trial_ends_at is not None and state.trial_planned_from is not None
            wanted = (
                {TrialStep.REMINDER, TrialStep.EXPIRE}
                if state.status is Status.TRIALING
                else {TrialStep.WINBACK}
            )
            for action in trial_timetable(
                trial_ends_at=state.trial_ends_at,
                planned_from=state.trial_planned_from,
                policy=self._policy.trial,
            ):
                if action.step in wanted:
                    due.append(_Due(action.key, action.at, self._trial_step(action)))
        if (
            state.status in (Status.ACTIVE, Status.PAST_DUE)
            and state.current_period_end is not None
            and (state.cancel_at_period_end or state.scheduled_change is not None)
        ):
            end = state.current_period_end
            due.append(_Due(f"period_end:{end.isoformat()}", end, self._period_end_due(end)))
        if state.status is Status.PAST_DUE and state.dunning is not None:
            dunning = state.dunning
            if dunning.next_retry_at is not None:
                when = dunning.next_retry_at.isoformat()
                key = f"dunning_retry:{dunning.invoice_id}:{dunning.attempts + 1}:{when}"
                due.append(_Due(key, dunning.next_retry_at, self._dunning_retry))
        if state.status is Status.PAUSED and state.pause_resumes_at is not None:
            at = state.pause_resumes_at
            due.append(_Due(f"auto_resume:{at.isoformat()}", at, self._auto_resume))
        return [d for d in due if d.key not in done]

    def _next_due(self) -> _Due | None:
        actions = self._due_actions()
        return min(actions, key=lambda a: a.at) if actions else None

    async def _perform_due_actions(self) -> None:
        while (action := self._next_due()) is not None and action.at <= workflow.now():
            try:
                await action.run()
            except ApplicationError as exc:
                # The provider refused for good (e.g. the invoice was voided by hand): record
                # it for an admin and move on, rather than failing the customer's lifecycle.
                await self._automation_failed(action.key, exc)
            if action.key not in self._state.done:
                self._state.done.append(action.key)

    # -- the trial -------------------------------------------------------------------

    async def _start_trial(self) -> None:
        state = self._state
        workflow.upsert_search_attributes([sa.CUSTOMER_ID.value_set(state.customer_id)])
        await self._record(
            "trial_started",
            from_status=None,
            data={"trial_ends_at": _iso(state.trial_ends_at)},
        )
        await self._email(
            EmailTemplate.WELCOME,
            key="welcome",
            data={
                "trial_days": max(1, self._policy.trial.length.days),
                "trial_ends_at": _iso(state.trial_ends_at),
            },
        )

    def _trial_step(self, action: TrialAction) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            trial_ends_at = _iso(self._state.trial_ends_at)
            if action.step is TrialStep.REMINDER:
                await self._email(
                    EmailTemplate.TRIAL_REMINDER,
                    key=action.key,
                    data={"days_left": action.whole_days, "trial_ends_at": trial_ends_at},
                )
            elif action.step is TrialStep.EXPIRE:
                await self._move(
                    Status.TRIAL_EXPIRED, "trial_expired", data={"trial_ends_at": trial_ends_at}
                )
                await self._email(
                    EmailTemplate.TRIAL_EXPIRED,
                    key=action.key,
                    data={"trial_ends_at": trial_ends_at},
                )
            else:
                trial = self._policy.trial
                data: dict[str, Any] = {
                    "days_since_expiry": action.whole_days,
                    "trial_ends_at": trial_ends_at,
                }
                if trial.winback_coupon and trial.winback_offer:
                    data["offer"] = trial.winback_offer
                await self._email(EmailTemplate.TRIAL_WINBACK, key=action.key, data=data)

        return run

    # -- commands --------------------------------------------------------------------

    @workflow.update(name="change_subscription")
    async def change_subscription(self, command: ChangeSubscription) -> CustomerSnapshot:
        async with self._command():
            self._check_change(command)
            if self._state.status in SUBSCRIBABLE:
                await self._subscribe(command)
            else:
                await self._change_plan(command)
        return self._after_command()

    @change_subscription.validator
    def _validate_change(self, command: ChangeSubscription) -> None:
        self._check_change(command)

    def _check_change(self, command: ChangeSubscription) -> None:
        state = self._state
        try:
            require_subscribable_plan(self._catalog, command.plan)
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
        except TransitionRefused as exc:
            raise _refused(exc) from None

    @workflow.update(name="cancel")
    async def cancel(self, command: CancelSubscription) -> CustomerSnapshot:
        async with self._command():
            self._check_cancel(command)
            await self._cancel(command)
        return self._after_command()

    @cancel.validator
    def _validate_cancel(self, command: CancelSubscription) -> None:
        self._check_cancel(command)

    def _check_cancel(self, command: CancelSubscription) -> None:
        state = self._state
        try:
            allowed = {Status.ACTIVE, Status.PAST_DUE}
            if not command.at_period_end:
                allowed.add(Status.PAUSED)
            require_status(state.status, allowed, "cancel")
            if command.at_period_end and state.cancel_at_period_end:
                raise TransitionRefused("cancellation at period end is already scheduled")
        except TransitionRefused as exc:
            raise _refused(exc) from None

    @workflow.update(name="reactivate")
    async def reactivate(self, command: ReactivateSubscription) -> CustomerSnapshot:
        async with self._command():
            self._check_reactivate()
            await self._reactivate(command)
        return self._after_command()

    @reactivate.validator
    def _validate_reactivate(self, command: ReactivateSubscription) -> None:
        self._check_reactivate()

    def _check_reactivate(self) -> None:
        try:
            require_status(self._state.status, {Status.ACTIVE, Status.PAST_DUE}, "reactivate")
            if not self._state.cancel_at_period_end:
                raise TransitionRefused("nothing to reactivate: no cancellation is scheduled")
        except TransitionRefused as exc:
            raise _refused(exc) from None

    @workflow.update(name="pause")
    async def pause(self, command: PauseSubscription) -> CustomerSnapshot:
        async with self._command():
            self._check_pause(command)
            await self._pause(command)
        return self._after_command()

    @pause.validator
    def _validate_pause(self, command: PauseSubscription) -> None:
        self._check_pause(command)

    def _check_pause(self, command: PauseSubscription) -> None:
        try:
            require_status(self._state.status, {Status.ACTIVE}, "pause")
            if command.resumes_at is not None and command.resumes_at <= workflow.now():
                raise TransitionRefused("resumes_at must be in the future")
        except TransitionRefused as exc:
            raise _refused(exc) from None

    @workflow.update(name="resume")
    async def resume(self, command: ResumeSubscription) -> CustomerSnapshot:
        async with self._command():
            self._check_resume()
            await self._resume(command.actor)
        return self._after_command()

    @resume.validator
    def _validate_resume(self, command: ResumeSubscription) -> None:
        self._check_resume()

    def _check_resume(self) -> None:
        try:
            require_status(self._state.status, {Status.PAUSED}, "resume")
        except TransitionRefused as exc:
            raise _refused(exc) from None

    @workflow.update(name="extend_trial")
    async def extend_trial(self, command: ExtendTrial) -> CustomerSnapshot:
        async with self._command():
            self._check_extension(command)
            await self._extend_trial(command)
        return self._after_command()

    @extend_trial.validator
    def _validate_extension(self, command: ExtendTrial) -> None:
        self._check_extension(command)

    @workflow.signal(name="extend_trial")
    async def extend_trial_signal(self, command: ExtendTrial) -> None:
        """The same extension from the Temporal Web UI (Send a Signal, name extend_trial,
        input {"days": 7, "reason": "..."}). A refused one is recorded, not applied."""
        async with self._lock:
            try:
                self._check_extension(command)
            except ApplicationError as exc:
                await self._record(
                    "admin_command_refused",
                    actor=command.actor,
                    data={"command": "extend_trial", "error": exc.message},
                )
                return
            await self._extend_trial(command)
        self._wake = True

    def _check_extension(self, command: ExtendTrial) -> None:
        try:
            require_status(
                self._state.status, {Status.TRIALING, Status.TRIAL_EXPIRED}, "extend the trial"
            )
            if not 1 <= command.days <= 90:
                raise TransitionRefused("days must be between 1 and 90")
            if not command.reason.strip():
                raise TransitionRefused("a reason is required")
        except TransitionRefused as exc:
            raise _refused(exc) from None

    async def _extend_trial(self, command: ExtendTrial) -> None:
        state = self._state
        assert state.trial_ends_at is not None
        now = workflow.now()
        previous_end = state.trial_ends_at
        # An expired trial reopens from today; a running one grows from its end.
        state.trial_ends_at = max(previous_end, now) + timedelta(days=command.days)
        # Reminders are planned afresh from the new end, for what is still ahead.
        state.trial_planned_from = now
        await self._move(
            Status.TRIALING,
            "trial_extended",
            actor=command.actor,
            data={
                "days": command.days,
                "reason": command.reason,
                "previous_trial_ends_at": _iso(previous_end),
                "trial_ends_at": _iso(state.trial_ends_at),
            },
        )
        await self._email(
            EmailTemplate.TRIAL_EXTENDED,
            key=f"trial_extended:{state.trial_ends_at.isoformat()}",
            data={"days": command.days, "trial_ends_at": _iso(state.trial_ends_at)},
        )

    @workflow.update(name="purchase_addon")
    async def purchase_addon(self, command: PurchaseAddon) -> CustomerSnapshot:
        async with self._command():
            self._check_addon(command)
            await self._purchase_addon(command)
        return self._after_command()

    @purchase_addon.validator
    def _validate_addon(self, command: PurchaseAddon) -> None:
        self._check_addon(command)

    def _check_addon(self, command: PurchaseAddon) -> None:
        try:
            require_status(self._state.status, {Status.ACTIVE}, f"buy {command.addon}")
            addon = self._catalog.addons.get(command.addon)
            if addon is None:
                raise TransitionRefused(f"unknown add-on {command.addon!r}")
            if not 1 <= command.quantity <= 100:
                raise TransitionRefused("quantity must be between 1 and 100")
            if addon.kind == "feature" and (
                command.quantity != 1 or self._state.addons.get(addon.id)
            ):
                raise TransitionRefused(f"{addon.id} is an on/off feature; it is bought once")
        except TransitionRefused as exc:
            raise _refused(exc) from None

    async def _purchase_addon(self, command: PurchaseAddon) -> None:
        state = self._state
        addon = self._catalog.addons[command.addon]
        assert state.interval is not None and state.subscription_id is not None
        assert state.provider_customer_id is not None
        seq = self._next_command()
        one_off = addon.kind == "one_off"
        result = await self._billing(
            BillingActivities.purchase_addon,
            PurchaseAddonInput(
                customer_id=state.customer_id,
                provider_customer_id=state.provider_customer_id,
                subscription_id=state.subscription_id,
                addon=addon.id,
                kind=addon.kind,
                lookup_key=addon_lookup_key(addon.id, None if one_off else state.interval),
                quantity=command.quantity,
                idempotency_key=self._key(seq, f"addon:{addon.id}"),
                period_start=state.current_period_start,
                period_end=state.current_period_end,
            ),
        )
        new_mrr = None
        if not one_off:
            state.addons = {
                **state.addons,
                addon.id: state.addons.get(addon.id, 0) + command.quantity,
            }
            new_mrr = self._mrr(state.plan, state.interval)
        await self._record(
            "addon_purchased",
            actor=command.actor,
            new_mrr=new_mrr,
            data={
                "addon": addon.id,
                "kind": addon.kind,
                "quantity": command.quantity,
                "amount_paid_cents": result.amount_paid_cents,
                "invoice_id": result.invoice_id,
            },
        )

    @workflow.update(name="erase")
    async def erase(self, command: EraseCustomer) -> CustomerSnapshot:
        """GDPR erasure: end billing, erase the provider's and the app's personal data, and
        end this workflow (which never held personal data)."""
        async with self._command():
            await self._erase(command)
        return self._after_command()

    async def _erase(self, command: EraseCustomer) -> None:
        state = self._state
        seq = self._next_command()
        if state.status is not Status.CANCELED and state.subscription_id is not None:
            await self._subscription_command("cancel", seq, at_period_end=False)
            state.dunning = None
            await self._end_subscription(actor=command.actor, reason="erased", key=f"erase:{seq}")
        elif state.status in (Status.TRIALING, Status.TRIAL_EXPIRED):
            # A trial ends too: no more reminders or win-backs to an erased customer.
            await self._move(Status.CANCELED, "trial_ended", actor=command.actor)
        await self._billing(
            BillingActivities.erase_provider_customer,
            EraseProviderCustomerInput(
                customer_id=state.customer_id,
                provider_customer_id=state.provider_customer_id,
                idempotency_key=f"{state.customer_id}:erase_provider",
            ),
        )
        await workflow.execute_activity_method(
            PrivacyActivities.erase_personal_data,
            ErasePersonalDataInput(
                customer_id=state.customer_id, actor=command.actor, erased_at=workflow.now()
            ),
            start_to_close_timeout=_DB_TIMEOUT,
            retry_policy=_DB_RETRY,
        )
        self._erased = True

    @workflow.update(name="update_payment_method")
    async def update_payment_method(self, command: UpdatePaymentMethod) -> CustomerSnapshot:
        async with self._command():
            provider_customer = await self._ensure_provider_customer()
            seq = self._next_command()
            attached = await self._billing(
                BillingActivities.attach_payment_method,
                AttachPaymentMethodInput(
                    customer_id=self._state.customer_id,
                    provider_customer_id=provider_customer,
                    payment_method=command.payment_method,
                    idempotency_key=self._key(seq, "attach"),
                ),
            )
            self._state.payment_method_id = attached.id
            await self._record("payment_method_updated", actor=command.actor)
            if self._state.status is Status.PAST_DUE and self._state.dunning is not None:
                # A new card is the likeliest fix: retry now rather than at the next step.
                dunning = self._state.dunning
                invoice = await self._invoice_command(
                    "pay", dunning.invoice_id, f"dunning:{dunning.invoice_id}:card:{seq}"
                )
                if invoice.status == "paid":
                    await self._recover(via="new_card", actor=command.actor, invoice=invoice)
        return self._after_command()

    @contextlib.asynccontextmanager
    async def _command(self) -> AsyncIterator[None]:
        async with self._lock:
            self._caller_waiting = True
            try:
                yield
            finally:
                self._caller_waiting = False

    def _after_command(self) -> CustomerSnapshot:
        self._wake = True
        return self.snapshot()

    # -- subscribing and changing plans ---------------------------------------------

    async def _subscribe(self, command: ChangeSubscription) -> None:
        state = self._state
        seq = self._next_command()
        provider_customer = await self._ensure_provider_customer()
        if command.payment_method:
            attached = await self._billing(
                BillingActivities.attach_payment_method,
                AttachPaymentMethodInput(
                    customer_id=state.customer_id,
                    provider_customer_id=provider_customer,
                    payment_method=command.payment_method,
                    idempotency_key=self._key(seq, "attach"),
                ),
            )
            state.payment_method_id = attached.id
        subscription = await self._billing(
            BillingActivities.create_subscription,
            CreateSubscriptionInput(
                customer_id=state.customer_id,
                provider_customer_id=provider_customer,
                plan=command.plan,
                interval=command.interval,
                idempotency_key=self._key(seq, "subscribe"),
                coupon=command.coupon or self._winback_coupon(),
            ),
        )
        await self._start_subscription(subscription, command.actor, via="api")

    def _winback_coupon(self) -> str | None:
        """The win-back offer holds for a customer who was sent one and converts now."""
        state, trial = self._state, self._policy.trial
        sent = any(k.startswith(f"{TrialStep.WINBACK}:") for k in state.done)
        if state.status is Status.TRIAL_EXPIRED and sent and trial.winback_offer:
            return trial.winback_coupon
        return None

    async def _start_subscription(
        self, subscription: SubscriptionInfo, actor: str, *, via: str
    ) -> None:
        state = self._state
        previous = state.status
        price = subscription.price
        plan = price.plan if price else state.plan
        interval = price.interval if price else BillingInterval.MONTH
        winbacks_sent = sum(1 for k in state.done if k.startswith(f"{TrialStep.WINBACK}:"))
        self._adopt_period(subscription)
        state.subscription_id = subscription.id
        state.plan, state.interval = plan, interval
        state.cancel_at_period_end = subscription.cancel_at_period_end
        state.scheduled_change = None
        state.canceled_at = None
        new_mrr = self._mrr(plan, interval)
        kind = "subscription_restarted" if previous is Status.CANCELED else "trial_converted"
        invoice = subscription.latest_invoice
        await self._move(
            Status.ACTIVE,
            kind,
            actor=actor,
            new_mrr=new_mrr,
            data={
                "via": via,
                "converted_from": previous.value,
                "winbacks_sent": winbacks_sent,
                "amount_paid_cents": invoice.amount_paid_cents if invoice else 0,
                "invoice_id": invoice.id if invoice else None,
                "subscription_id": subscription.id,
            },
        )
        await self._email(
            EmailTemplate.TRIAL_CONVERTED,
            key=f"converted:{subscription.id}",
            data={
                **self._plan_data(),
                "amount_cents": invoice.amount_paid_cents if invoice else 0,
                "currency": invoice.currency if invoice else self._catalog.currency,
                "period_end_at": _iso(state.current_period_end),
            },
        )

    async def _change_plan(self, command: ChangeSubscription) -> None:
        state = self._state
        assert state.subscription_id is not None and state.interval is not None
        seq = self._next_command()
        wanted = PlanChoice(command.plan, command.interval)
        if (command.plan, command.interval) == (state.plan, state.interval):
            # Asking for the current plan withdraws a pending downgrade.
            await self._drop_scheduled_change(seq, command.actor)
            return
        kind = classify_change(self._catalog, PlanChoice(state.plan, state.interval), wanted)
        now = command.when == "now" or (command.when is None and kind is ChangeKind.UPGRADE)
        if state.scheduled_change is not None:
            # Any new change replaces a pending one (the provider drops it too).
            await self._drop_scheduled_change(seq, command.actor)
        if now:
            subscription = await self._billing(
                BillingActivities.change_price,
                ChangePriceInput(
                    customer_id=state.customer_id,
                    subscription_id=state.subscription_id,
                    plan=command.plan,
                    interval=command.interval,
                    proration="always_invoice",
                    idempotency_key=self._key(seq, "change"),
                ),
            )
            self._adopt_period(subscription)
            invoice = subscription.latest_invoice
            charged = (
                invoice.amount_paid_cents
                if invoice is not None and invoice.billing_reason == "subscription_update"
                else 0
            )
            await self._apply_plan(
                wanted, kind, actor=command.actor, amount_cents=charged, key=f"change:{seq}"
            )
            return
        subscription = await self._billing(
            BillingActivities.schedule_price_change,
            SchedulePriceChangeInput(
                customer_id=state.customer_id,
                subscription_id=state.subscription_id,
                plan=command.plan,
                interval=command.interval,
                idempotency_key=self._key(seq, "schedule"),
            ),
        )
        self._adopt_period(subscription)
        assert state.current_period_end is not None
        state.scheduled_change = ScheduledChange(
            plan=command.plan, interval=command.interval, effective_at=state.current_period_end
        )
        await self._record(
            "plan_change_scheduled",
            actor=command.actor,
            data={
                "to_plan": command.plan,
                "to_interval": command.interval.value,
                "effective_at": _iso(state.current_period_end),
            },
        )

    async def _drop_scheduled_change(self, seq: int, actor: str, *, record: bool = True) -> None:
        state = self._state
        assert state.subscription_id is not None
        await self._subscription_command("cancel_scheduled_change", seq)
        dropped = state.scheduled_change
        state.scheduled_change = None
        if record and dropped is not None:
            await self._record(
                "plan_change_withdrawn",
                actor=actor,
                data={"to_plan": dropped.plan, "to_interval": dropped.interval.value},
            )

    async def _apply_plan(
        self,
        wanted: PlanChoice,
        kind: ChangeKind,
        *,
        actor: str,
        amount_cents: int,
        key: str,
        reason: str | None = None,
        from_status: Status | None = None,
    ) -> None:
        state = self._state
        previous_plan = state.plan
        state.plan, state.interval = wanted.plan, wanted.interval
        state.scheduled_change = None
        billed = state.status in (Status.ACTIVE, Status.PAST_DUE)
        new_mrr = self._mrr(wanted.plan, wanted.interval) if billed else 0
        await self._record(
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
        await self._email(
            EmailTemplate.PLAN_CHANGED,
            key=key,
            data={
                **self._plan_data(),
                "previous_plan_name": self._plan_name(previous_plan),
                "effective_at": _iso(workflow.now()),
                "amount_cents": amount_cents,
                "currency": self._catalog.currency,
            },
        )

    # -- cancel, reactivate, pause, resume ---------------------------------------------

    async def _cancel(self, command: CancelSubscription) -> None:
        state = self._state
        seq = self._next_command()
        if state.scheduled_change is not None:
            await self._drop_scheduled_change(seq, command.actor)
        subscription = await self._subscription_command(
            "cancel", seq, at_period_end=command.at_period_end
        )
        if command.at_period_end:
            self._adopt_period(subscription)
            state.cancel_at_period_end = True
            await self._record(
                "cancellation_scheduled",
                actor=command.actor,
                data={"effective_at": _iso(state.current_period_end)},
            )
            await self._email(
                EmailTemplate.SUBSCRIPTION_CANCELED,
                key=f"cancel:{seq}",
                data={
                    **self._plan_data(),
                    "at_period_end": True,
                    "effective_at": _iso(state.current_period_end),
                },
            )
            return
        await self._end_subscription(
            actor=command.actor, reason="canceled_now", key=f"cancel:{seq}"
        )

    async def _end_subscription(self, *, actor: str, reason: str, key: str) -> None:
        state = self._state
        state.canceled_at = workflow.now()
        state.cancel_at_period_end = False
        state.scheduled_change = None
        state.addons = {}
        await self._move(
            Status.CANCELED,
            "subscription_canceled",
            actor=actor,
            new_mrr=0,
            data={"reason": reason, "voluntary": reason != "dunning_exhausted"},
        )
        if reason != "cancel_at_period_end":
            await self._email(
                EmailTemplate.SUBSCRIPTION_CANCELED,
                key=key,
                data={**self._plan_data(), "at_period_end": False},
            )

    async def _reactivate(self, command: ReactivateSubscription) -> None:
        state = self._state
        seq = self._next_command()
        subscription = await self._subscription_command("reactivate", seq)
        self._adopt_period(subscription)
        state.cancel_at_period_end = False
        await self._record("cancellation_withdrawn", actor=command.actor)
        await self._email(
            EmailTemplate.SUBSCRIPTION_REACTIVATED,
            key=f"reactivate:{seq}",
            data={**self._plan_data(), "period_end_at": _iso(state.current_period_end)},
        )

    async def _pause(self, command: PauseSubscription) -> None:
        state = self._state
        seq = self._next_command()
        await self._subscription_command("pause", seq, resumes_at=command.resumes_at)
        state.pause_resumes_at = command.resumes_at
        await self._move(
            Status.PAUSED,
            "subscription_paused",
            actor=command.actor,
            new_mrr=0,
            data={"resumes_at": _iso(command.resumes_at)},
        )
        await self._email(
            EmailTemplate.SUBSCRIPTION_PAUSED,
            key=f"pause:{seq}",
            data={**self._plan_data(), "resumes_at": _iso(command.resumes_at)},
        )

    async def _resume(self, actor: str, *, call_provider: bool = True) -> None:
        state = self._state
        seq = self._next_command()
        if call_provider:
            subscription = await self._subscription_command("resume", seq)
            self._adopt_period(subscription)
        state.pause_resumes_at = None
        assert state.interval is not None
        await self._move(
            Status.ACTIVE,
            "subscription_resumed",
            actor=actor,
            new_mrr=self._mrr(state.plan, state.interval),
        )
        await self._email(
            EmailTemplate.SUBSCRIPTION_RESUMED, key=f"resume:{seq}", data=self._plan_data()
        )

    async def _auto_resume(self) -> None:
        # The provider resumes collection at resumes_at on its own.
        await self._resume(SYSTEM_ACTOR, call_provider=False)

    # -- dunning ---------------------------------------------------------------------------

    async def _payment_failed(self, invoice: InvoiceInfo) -> None:
        """A renewal could not be charged: past_due, then retries on the policy's schedule."""
        state = self._state
        retries = self._policy.dunning.retries
        now = workflow.now()
        state.dunning = Dunning(
            invoice_id=invoice.id, started_at=now, attempts=1, next_retry_at=now + retries[0]
        )
        await self._move(
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
        await self._tell_payment_failed()

    async def _tell_payment_failed(self) -> None:
        state = self._state
        assert state.dunning is not None
        dunning = state.dunning
        data = {
            **self._plan_data(),
            "attempt": dunning.attempts,
            "invoice_id": dunning.invoice_id,
            "next_retry_at": _iso(dunning.next_retry_at),
        }
        key = f"payment_failed:{dunning.invoice_id}:{dunning.attempts}"
        await self._email(EmailTemplate.PAYMENT_FAILED, key=key, data=data)
        await self._notify(NotificationKind.PAYMENT_FAILED, key=key, data=data)

    async def _dunning_retry(self) -> None:
        state = self._state
        assert state.dunning is not None
        dunning = state.dunning
        try:
            invoice = await self._invoice_command(
                "pay", dunning.invoice_id, f"dunning:{dunning.invoice_id}:{dunning.attempts + 1}"
            )
        except ApplicationError as exc:
            if exc.type != CARD_DECLINED:
                # Not the card (the invoice was voided, say): an admin has to look.
                raise
            await self._retry_failed()
            return
        if invoice.status == "paid":
            await self._recover(via="retry", actor=SYSTEM_ACTOR, invoice=invoice)

    async def _retry_failed(self) -> None:
        state = self._state
        assert state.dunning is not None
        dunning = state.dunning
        retries = self._policy.dunning.retries
        dunning.attempts += 1
        retries_done = dunning.attempts - 1
        dunning.next_retry_at = (
            dunning.started_at + retries[retries_done] if retries_done < len(retries) else None
        )
        await self._record(
            "payment_retry_failed",
            data={"invoice_id": dunning.invoice_id, "attempt": dunning.attempts},
        )
        await self._tell_payment_failed()
        if dunning.next_retry_at is None:
            await self._dunning_exhausted()

    async def _payment_method_changed(self, actor: str) -> None:
        """Mirror the provider's default card; a new card while past due retries at once."""
        state = self._state
        if state.provider_customer_id is None:
            return
        method = await self._billing(
            BillingActivities.sync_payment_method,
            SyncPaymentMethodInput(
                customer_id=state.customer_id, provider_customer_id=state.provider_customer_id
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
        try:
            invoice = await self._invoice_command(
                "pay", dunning.invoice_id, f"dunning:{dunning.invoice_id}:card:{method.id}"
            )
        except ApplicationError as exc:
            if exc.type != CARD_DECLINED:
                raise
            return
        if invoice.status == "paid":
            await self._recover(via="new_card", actor=actor, invoice=invoice)

    async def _recover(self, *, via: str, actor: str, invoice: InvoiceInfo | None) -> None:
        state = self._state
        dunning = state.dunning
        assert dunning is not None
        state.dunning = None
        await self._move(
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
            **self._plan_data(),
            "amount_cents": invoice.amount_paid_cents if invoice else 0,
            "currency": invoice.currency if invoice else self._catalog.currency,
        }
        key = f"payment_recovered:{dunning.invoice_id}"
        await self._email(EmailTemplate.PAYMENT_RECOVERED, key=key, data=data)
        await self._notify(NotificationKind.PAYMENT_RECOVERED, key=key, data=data)

    async def _dunning_exhausted(self) -> None:
        """The last retry failed: the policy's final action."""
        state = self._state
        dunning = state.dunning
        assert dunning is not None
        policy = self._policy.dunning
        seq = self._next_command()
        key = f"dunning_exhausted:{dunning.invoice_id}"
        if policy.final_action is FinalAction.DOWNGRADE and policy.downgrade_plan:
            assert state.interval is not None and state.subscription_id is not None
            await self._invoice_command(
                "mark_uncollectible", dunning.invoice_id, f"{seq}:write_off"
            )
            target = PlanChoice(policy.downgrade_plan, state.interval)
            subscription = await self._billing(
                BillingActivities.change_price,
                ChangePriceInput(
                    customer_id=state.customer_id,
                    subscription_id=state.subscription_id,
                    plan=target.plan,
                    interval=target.interval,
                    proration="none",
                    idempotency_key=self._key(seq, "dunning_downgrade"),
                ),
            )
            self._adopt_period(subscription)
            state.dunning = None
            state.status = Status.ACTIVE
            await self._apply_plan(
                target,
                ChangeKind.DOWNGRADE,
                actor=SYSTEM_ACTOR,
                amount_cents=0,
                key=key,
                reason="dunning_exhausted",
                from_status=Status.PAST_DUE,
            )
            return
        await self._subscription_command("cancel", seq, at_period_end=False)
        state.dunning = None
        await self._end_subscription(actor=SYSTEM_ACTOR, reason="dunning_exhausted", key=key)
        await self._notify(NotificationKind.SUBSCRIPTION_CANCELED, key=key, data=self._plan_data())

    async def _invoice_command(self, command: str, invoice_id: str, suffix: str) -> InvoiceInfo:
        return await self._billing(
            BillingActivities.invoice_command,
            InvoiceCommandInput(
                customer_id=self._state.customer_id,
                invoice_id=invoice_id,
                command=command,
                idempotency_key=f"{self._state.customer_id}:{suffix}",
            ),
        )

    def _period_end_due(self, end: datetime) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self._period_ended(end, actor=SYSTEM_ACTOR)

        return run

    async def _period_ended(self, end: datetime, *, actor: str) -> None:
        """What takes effect when a billing period ends: a cancellation or a scheduled change.

        Reached by the period-end timer or by the provider's renewal, whichever comes first.
        """
        state = self._state
        key = f"period_end:{end.isoformat()}"
        if key in state.done:
            return
        state.done.append(key)
        if state.cancel_at_period_end:
            await self._end_subscription(actor=actor, reason="cancel_at_period_end", key=key)
        elif state.scheduled_change is not None:
            change = state.scheduled_change
            assert state.interval is not None
            kind = classify_change(
                self._catalog,
                PlanChoice(state.plan, state.interval),
                PlanChoice(change.plan, change.interval),
            )
            await self._apply_plan(
                PlanChoice(change.plan, change.interval), kind, actor=actor, amount_cents=0, key=key
            )

    # -- provider events ---------------------------------------------------------------

    @workflow.signal(name="usage_threshold")
    async def usage_threshold(self, crossed: UsageThresholdCrossed) -> None:
        async with self._lock:
            await self._usage_threshold(crossed)

    async def _usage_threshold(self, crossed: UsageThresholdCrossed) -> None:
        key = f"usage:{crossed.metric}:{crossed.period_start.isoformat()}:{crossed.threshold}"
        if key in self._state.done:
            return
        upgrade_name = None
        if crossed.upgrade_plan:
            upgrade_name = self._plan_name(crossed.upgrade_plan)
        elif crossed.upgrade_addon and crossed.upgrade_addon in self._catalog.addons:
            upgrade_name = self._catalog.addons[crossed.upgrade_addon].name
        data = {
            "metric": crossed.metric,
            "metric_name": crossed.metric.replace("_", " "),
            "threshold": crossed.threshold,
            "percent": crossed.threshold,
            "used": crossed.used,
            "limit": crossed.limit,
            "period_start": crossed.period_start.isoformat(),
            "upgrade_plan": crossed.upgrade_plan,
            "upgrade_addon": crossed.upgrade_addon,
            "upgrade_plan_name": upgrade_name,
            "upgrade_price_difference_cents": crossed.upgrade_price_difference_cents,
        }
        reached = crossed.threshold >= 100
        await self._email(
            EmailTemplate.USAGE_LIMIT_REACHED if reached else EmailTemplate.USAGE_WARNING,
            key=key,
            data=data,
        )
        await self._notify(
            NotificationKind.USAGE_LIMIT_REACHED if reached else NotificationKind.USAGE_WARNING,
            key=key,
            data=data,
        )
        self._state.done.append(key)

    @workflow.signal(name="payment_event")
    async def payment_event(self, event: PaymentEvent) -> None:
        async with self._lock:
            try:
                await self._on_payment_event(event)
            except ApplicationError as exc:
                await self._automation_failed(f"event:{event.id}", exc)
        self._wake = True

    async def _automation_failed(self, what: str, exc: ApplicationError) -> None:
        workflow.logger.error("automatic step %s failed: %s (%s)", what, exc.message, exc.type)
        await self._record(
            "automation_failed",
            data={"step": what, "error": exc.message, "type": exc.type},
        )

    async def _on_payment_event(self, event: PaymentEvent) -> None:
        state = self._state
        if event.id in state.seen_events:
            return
        state.seen_events = [*state.seen_events, event.id][-_SEEN_EVENTS_KEPT:]
        if event.type == "checkout.session.completed":
            if state.status in SUBSCRIBABLE and event.checkout_subscription_id:
                subscription = await self._fetch_subscription(event.checkout_subscription_id)
                if subscription.status in ("active", "trialing"):
                    state.provider_customer_id = subscription.customer
                    await self._start_subscription(subscription, PROVIDER_ACTOR, via="checkout")
                    await self._payment_method_changed(PROVIDER_ACTOR)
            return
        if event.type in ("payment_method.attached", "customer.updated"):
            # The card may have changed in the Customer Portal.
            await self._payment_method_changed(PROVIDER_ACTOR)
            return
        subscription_id = (
            event.subscription.id
            if event.subscription is not None
            else event.invoice.subscription
            if event.invoice is not None
            else None
        )
        if subscription_id is None or subscription_id != state.subscription_id:
            return
        if state.provider_as_of is not None and event.created < state.provider_as_of:
            # Older than what was already applied: never roll state back.
            return
        if event.invoice is None:
            assert event.subscription is not None
            await self._reconcile(event.subscription, as_of=event.created)
            return
        # Invoice events say something happened to the subscription; ask what, first.
        invoice = event.invoice
        await self._reconcile(await self._fetch_subscription(subscription_id), as_of=event.created)
        if (
            event.type == "invoice.payment_failed"
            and state.status is Status.ACTIVE
            and invoice.status == "open"
        ):
            await self._payment_failed(invoice)
        elif (
            event.type in ("invoice.paid", "invoice.payment_succeeded")
            and state.status is Status.PAST_DUE
            and state.dunning is not None
            and invoice.id == state.dunning.invoice_id
        ):
            await self._recover(via="payment", actor=PROVIDER_ACTOR, invoice=invoice)

    async def _reconcile(self, subscription: SubscriptionInfo, *, as_of: datetime) -> None:
        """Bring the lifecycle in line with the provider's view of the subscription."""
        state = self._state
        state.provider_as_of = max(as_of, state.provider_as_of or as_of)
        if state.status is Status.CANCELED:
            return
        if subscription.status == "canceled":
            reason = "cancel_at_period_end" if state.cancel_at_period_end else "provider"
            await self._end_subscription(
                actor=PROVIDER_ACTOR, reason=reason, key=f"ended:{subscription.id}"
            )
            return
        if (
            state.current_period_end is not None
            and subscription.current_period_start >= state.current_period_end
        ):
            await self._period_ended(state.current_period_end, actor=PROVIDER_ACTOR)
            if state.status is Status.CANCELED:
                return
        rolled = (
            state.current_period_end is not None
            and subscription.current_period_start >= state.current_period_end
        )
        changed = self._adopt_period(subscription)
        if rolled:
            invoice = subscription.latest_invoice
            await self._record(
                "subscription_renewed",
                actor=PROVIDER_ACTOR,
                data={
                    "period_start": _iso(subscription.current_period_start),
                    "period_end": _iso(subscription.current_period_end),
                    "invoice_id": invoice.id if invoice else None,
                    "amount_paid_cents": invoice.amount_paid_cents if invoice else None,
                },
            )
            changed = False
        price = subscription.price
        if price is not None and (price.plan, price.interval) != (state.plan, state.interval):
            # Changed outside the engine, e.g. in the Customer Portal.
            assert state.interval is not None
            wanted = PlanChoice(price.plan, price.interval)
            kind = classify_change(self._catalog, PlanChoice(state.plan, state.interval), wanted)
            await self._apply_plan(
                wanted,
                kind,
                actor=PROVIDER_ACTOR,
                amount_cents=0,
                key=f"provider_change:{subscription.id}:{as_of.isoformat()}",
            )
        if subscription.status == "active" and state.status is Status.PAST_DUE:
            # Paid outside the engine's retries (the hosted invoice page, the portal).
            await self._recover(via="payment", actor=PROVIDER_ACTOR, invoice=None)
        if subscription.paused and state.status is Status.ACTIVE:
            state.pause_resumes_at = subscription.pause_resumes_at
            await self._move(Status.PAUSED, "subscription_paused", actor=PROVIDER_ACTOR, new_mrr=0)
        elif not subscription.paused and state.status is Status.PAUSED:
            await self._resume(PROVIDER_ACTOR, call_provider=False)
        if subscription.cancel_at_period_end != state.cancel_at_period_end:
            state.cancel_at_period_end = subscription.cancel_at_period_end
            await self._record(
                "cancellation_scheduled"
                if subscription.cancel_at_period_end
                else "cancellation_withdrawn",
                actor=PROVIDER_ACTOR,
            )
        elif changed:
            await self._sync_view()

    # -- effects ------------------------------------------------------------------------

    def _adopt_period(self, subscription: SubscriptionInfo) -> bool:
        state = self._state
        changed = (state.current_period_start, state.current_period_end) != (
            subscription.current_period_start,
            subscription.current_period_end,
        )
        state.current_period_start = subscription.current_period_start
        state.current_period_end = subscription.current_period_end
        return changed

    async def _move(
        self,
        to_status: Status,
        kind: str,
        *,
        actor: str = SYSTEM_ACTOR,
        new_mrr: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        previous = self._state.status
        self._state.status = to_status
        await self._record(kind, from_status=previous, actor=actor, new_mrr=new_mrr, data=data)

    async def _record(
        self,
        kind: str,
        *,
        from_status: Status | str | None = "same",
        actor: str = SYSTEM_ACTOR,
        new_mrr: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Mirror the state to the read model and append a ledger row, in one activity."""
        state = self._state
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
        await self._sync_view(entry)

    async def _sync_view(self, entry: LedgerEntry | None = None) -> None:
        state = self._state
        state.version += 1
        await workflow.execute_activity_method(
            CustomerActivities.apply_transition,
            ApplyTransitionInput(
                customer_id=state.customer_id,
                version=state.version,
                view=self._view(),
                entry=entry,
            ),
            start_to_close_timeout=_DB_TIMEOUT,
            retry_policy=_DB_RETRY,
        )
        self._upsert_visibility()

    def _view(self) -> CustomerViewUpdate:
        state = self._state
        change = state.scheduled_change
        return CustomerViewUpdate(
            status=state.status.value,
            plan=state.plan,
            interval=state.interval.value if state.interval else None,
            trial_started_at=state.trial_started_at,
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
        )

    def _upsert_visibility(self) -> None:
        state = self._state
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.LIFECYCLE_STATUS.value_set(state.status.value),
            sa.PLAN_ID.value_set(state.plan),
        ]
        if state.trial_ends_at is not None:
            updates.append(sa.TRIAL_ENDS_AT.value_set(state.trial_ends_at))
        workflow.upsert_search_attributes(updates)

    async def _email(self, template: EmailTemplate, *, key: str, data: dict[str, Any]) -> None:
        await workflow.execute_activity_method(
            EmailActivities.send_email,
            SendEmailInput(
                customer_id=self._state.customer_id,
                template=template,
                idempotency_key=f"{self._state.customer_id}:{key}",
                requested_at=workflow.now(),
                data=data,
            ),
            start_to_close_timeout=_EMAIL_TIMEOUT,
            retry_policy=_EMAIL_RETRY,
        )

    async def _notify(self, kind: NotificationKind, *, key: str, data: dict[str, Any]) -> None:
        await workflow.execute_activity_method(
            NotificationActivities.notify,
            NotifyInput(
                customer_id=self._state.customer_id,
                kind=kind,
                dedupe_key=f"{self._state.customer_id}:{key}",
                created_at=workflow.now(),
                data=data,
            ),
            start_to_close_timeout=_DB_TIMEOUT,
            retry_policy=_DB_RETRY,
        )

    async def _billing(self, activity: Callable[[Any, Any], Awaitable[T]], arg: Any) -> T:
        """Run a payment activity; a final failure becomes the command's failure as is."""
        try:
            return await workflow.execute_activity_method(
                activity,
                arg,
                start_to_close_timeout=_PAYMENT_TIMEOUT,
                retry_policy=_PAYMENT_RETRY if self._caller_waiting else _PAYMENT_RETRY_PATIENT,
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in _CALLER_FAILURES:
                raise ApplicationError(
                    cause.message, *cause.details, type=cause.type, non_retryable=True
                ) from None
            raise ApplicationError(
                "the payment provider is unavailable; retry later",
                type=PAYMENT_PROVIDER_UNAVAILABLE,
                non_retryable=True,
            ) from None

    async def _ensure_provider_customer(self) -> str:
        state = self._state
        if state.provider_customer_id is None:
            state.provider_customer_id = await self._billing(
                BillingActivities.ensure_provider_customer,
                EnsureProviderCustomerInput(
                    customer_id=state.customer_id,
                    idempotency_key=f"{state.customer_id}:provider_customer",
                ),
            )
        return state.provider_customer_id

    async def _subscription_command(
        self,
        command: str,
        seq: int,
        *,
        at_period_end: bool = False,
        resumes_at: datetime | None = None,
    ) -> SubscriptionInfo:
        state = self._state
        assert state.subscription_id is not None
        return await self._billing(
            BillingActivities.subscription_command,
            SubscriptionCommandInput(
                customer_id=state.customer_id,
                subscription_id=state.subscription_id,
                command=command,
                idempotency_key=self._key(seq, command),
                at_period_end=at_period_end,
                resumes_at=resumes_at,
            ),
        )

    async def _fetch_subscription(self, subscription_id: str) -> SubscriptionInfo:
        return await self._billing(
            BillingActivities.fetch_subscription,
            FetchSubscriptionInput(
                customer_id=self._state.customer_id, subscription_id=subscription_id
            ),
        )

    def _next_command(self) -> int:
        self._state.command_seq += 1
        return self._state.command_seq

    def _key(self, seq: int, operation: str) -> str:
        return f"{self._state.customer_id}:{seq}:{operation}"

    def _mrr(self, plan: str, interval: BillingInterval) -> int:
        """The subscription's monthly recurring revenue: plan plus recurring add-ons."""
        catalog = self._catalog
        found = catalog.plans.get(plan)
        total = catalog.monthly_recurring_cents(found, interval) if found else 0
        for addon_id, quantity in self._state.addons.items():
            addon = catalog.addons.get(addon_id)
            if addon is not None:
                total += quantity * catalog.addon_monthly_recurring_cents(addon, interval)
        return total

    def _plan_name(self, plan: str) -> str:
        found = self._catalog.plans.get(plan)
        return found.name if found else plan

    def _plan_data(self) -> dict[str, Any]:
        state = self._state
        return {
            "plan": state.plan,
            "plan_name": self._plan_name(state.plan),
            "interval": state.interval.value if state.interval else None,
        }

    async def _continue_as_new(self) -> None:
        # Let in-flight updates and signals finish so none is lost across the new run.
        await workflow.wait_condition(workflow.all_handlers_finished)
        terms = await workflow.execute_activity_method(
            PolicyActivities.current_terms,
            start_to_close_timeout=_DB_TIMEOUT,
            retry_policy=_DB_RETRY,
        )
        workflow.continue_as_new(
            CustomerWorkflowInput(
                customer_id=self._state.customer_id,
                signed_up_at=self._state.signed_up_at,
                policy=terms.policy,
                catalog=terms.catalog,
                state=self._state,
            )
        )
