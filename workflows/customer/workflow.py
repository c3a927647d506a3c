"""One workflow per customer: the run loop, the message handlers and the lock.

Commands arrive as Temporal Updates (validated first, so a refused command never enters
the history); provider events and usage notices arrive as signals. Each, and each timed
action of the run loop, runs alone under the lock, so a command never interleaves with a
renewal. What each one does lives in the concern modules next to this one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from adapters.payments.base import PaymentEvent
    from domain.changes import SUBSCRIBABLE
    from domain.failures import IDEMPOTENCY_KEY_REUSED, TRANSITION_REFUSED
    from domain.lifecycle import Status, TransitionRefused
    from domain.terms import Terms
    from domain.trial import TrialStep
    from workflows.customer import (
        addons,
        checks,
        dunning,
        effects,
        erasure,
        patches,
        provider_events,
        subscription,
        timetable,
        trial,
        usage,
    )
    from workflows.customer.context import CustomerContext
    from workflows.customer.timetable import Due, DueKind
    from workflows.messages import (
        CancelSubscription,
        ChangeSubscription,
        CommandResult,
        CustomerSnapshot,
        CustomerState,
        CustomerSummary,
        CustomerWorkflowInput,
        EraseCustomer,
        ExtendTrial,
        NextAction,
        PauseSubscription,
        PurchaseAddon,
        ReactivateSubscription,
        RequestRecord,
        ResumeSubscription,
        Stall,
        UpdatePaymentMethod,
        UsageThresholdCrossed,
        command_fingerprint,
    )

_TERMS_TIMEOUT = timedelta(seconds=10)
_TERMS_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
# Callers' idempotency keys are honoured for a day (as Stripe's are), and the latest 50.
_REQUESTS_KEPT = 50
_REQUESTS_FOR = timedelta(hours=24)


def _refused(exc: TransitionRefused) -> ApplicationError:
    return ApplicationError(str(exc), type=TRANSITION_REFUSED, non_retryable=True)


@workflow.defn(name="CustomerLifecycle")
class CustomerWorkflow:
    @workflow.init
    def __init__(self, params: CustomerWorkflowInput) -> None:
        terms = None
        if params.policy is not None and params.catalog is not None:
            terms = Terms(policy=params.policy, catalog=params.catalog)
        state = params.state or _new_state(params)
        _carry_over(state)
        self._ctx = CustomerContext(state, terms, params.terms_version)
        self._wake = False
        self._lock = asyncio.Lock()
        self._erased = False

    @workflow.run
    async def run(self, params: CustomerWorkflowInput) -> None:
        ctx = self._ctx
        if ctx.terms is None:
            ctx.terms = await self._load_terms(params.terms_version)
            if params.state is None:
                _fill_trial(ctx.state, ctx.policy.trial.plan, ctx.policy.trial.length)
        if params.state is None:
            await trial.start(ctx)
        elif _final_action_lost(ctx.state) and workflow.patched(patches.DUNNING_CATCH_UP):
            # A final action that failed before it was a step of its own: try it again.
            assert ctx.state.dunning is not None
            ctx.state.dunning.final_action_at = workflow.now()
        while True:
            await self._perform_due_actions()
            if workflow.patched(patches.BOUNDED_STATE):
                # Commands and events leave keys too (a period end applied on renewal).
                timetable.prune(ctx.state, ctx.policy)
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

    async def _load_terms(self, version: str | None) -> Terms:
        assert version is not None, "a run has its terms inline or their version"
        return await workflow.execute_local_activity_method(
            PolicyActivities.terms,
            version,
            start_to_close_timeout=_TERMS_TIMEOUT,
            retry_policy=_TERMS_RETRY,
        )

    async def _terms_loaded(self) -> None:
        # Only awaits in the first moments of a run; otherwise no await (and no reordering
        # of handlers against the histories of runs that had their terms inline).
        if self._ctx.terms is None:
            await workflow.wait_condition(lambda: self._ctx.terms is not None)

    # -- query -------------------------------------------------------------------------------

    @workflow.query(name="state")
    def snapshot(self) -> CustomerSnapshot:
        ctx = self._ctx
        return CustomerSnapshot(
            state=ctx.state,
            next_action=self._next_action(),
            policy=ctx.terms.policy if ctx.terms else None,
            terms_version=ctx.terms_version,
        )

    def _next_action(self) -> NextAction | None:
        upcoming = self._next_due()
        return NextAction(key=upcoming.key, at=upcoming.at) if upcoming else None

    def _next_due(self) -> Due | None:
        if self._ctx.terms is None:
            return None
        return timetable.next_due(self._ctx.state, self._ctx.policy)

    # -- timed actions -----------------------------------------------------------------------

    async def _perform_due_actions(self) -> None:
        if not workflow.patched(patches.LOCK_PER_TIMED_ACTION):
            async with self._lock:
                # An erasure may have finished while this loop waited for the lock.
                while not self._erased and (action := self._due_now()) is not None:
                    await self._perform(action)
            return
        while not self._erased:
            async with self._lock:
                action = self._due_now() if not self._erased else None
                if action is None:
                    return
                await self._perform(action)

    def _due_now(self) -> Due | None:
        action = self._next_due()
        return action if action is not None and action.at <= workflow.now() else None

    async def _perform(self, action: Due) -> None:
        state = self._ctx.state
        try:
            await self._run_action(action)
        except ApplicationError as exc:
            if workflow.patched(patches.FAILED_STEPS_RETRY):
                # Not marked done: tried again after a backoff, and shown to admins.
                await self._stall(action.key, exc)
                return
            # The provider refused for good (e.g. the invoice was voided by hand): record
            # it for an admin and move on, rather than failing the customer's lifecycle.
            await self._automation_failed(action.key, exc)
        else:
            if action.key in state.stalled:
                await self._unstall(action.key)
        if action.key not in state.done and action.kind is not DueKind.RESYNC:
            state.done.append(action.key)

    async def _run_action(self, action: Due) -> None:
        ctx = self._ctx
        if action.kind is DueKind.TRIAL:
            assert action.trial is not None
            await trial.run_step(ctx, action.trial)
        elif action.kind is DueKind.PERIOD_END:
            assert ctx.state.current_period_end is not None
            await subscription.period_ended(ctx, action.at, actor="system")
        elif action.kind is DueKind.DUNNING_RETRY:
            await dunning.retry(ctx)
        elif action.kind is DueKind.DUNNING_FINAL:
            await dunning.final_action(ctx)
        elif action.kind is DueKind.AUTO_RESUME:
            await subscription.auto_resume(ctx)
        else:
            await provider_events.resync(ctx)

    async def _stall(self, key: str, exc: ApplicationError) -> None:
        state = self._ctx.state
        now = workflow.now()
        stall = state.stalled.get(key)
        if stall is None:
            stall = Stall(
                key=key,
                first_failed_at=now,
                attempts=0,
                next_attempt_at=now,
                error=exc.message,
                error_type=exc.type,
            )
            state.stalled[key] = stall
        stall.attempts += 1
        stall.next_attempt_at = now + timetable.backoff(stall.attempts)
        stall.error, stall.error_type = exc.message, exc.type
        workflow.logger.warning(
            "step %s failed (attempt %d, next at %s): %s (%s)",
            key,
            stall.attempts,
            stall.next_attempt_at.isoformat(),
            exc.message,
            exc.type,
        )
        if stall.attempts == 1:
            await effects.record(
                self._ctx,
                "automation_failed",
                data={
                    "step": key,
                    "error": exc.message,
                    "type": exc.type,
                    "next_attempt_at": stall.next_attempt_at.isoformat(),
                },
            )

    async def _unstall(self, key: str) -> None:
        stall = self._ctx.state.stalled.pop(key)
        await effects.record(
            self._ctx,
            "automation_recovered",
            data={"step": key, "attempts": stall.attempts + 1},
        )

    async def _automation_failed(self, what: str, exc: ApplicationError) -> None:
        workflow.logger.error("automatic step %s failed: %s (%s)", what, exc.message, exc.type)
        await effects.record(
            self._ctx,
            "automation_failed",
            data={"step": what, "error": exc.message, "type": exc.type},
        )

    # -- commands ------------------------------------------------------------------------------

    async def _command(
        self, command: Any, check: Callable[[], None], action: Callable[[], Awaitable[None]]
    ) -> CommandResult:
        """The one path of every command: the lock, the rules again, the work, the answer."""
        await self._terms_loaded()
        ctx = self._ctx
        async with self._lock:
            if self._repeated(command):
                return self._result()
            ctx.caller_waiting = True
            ctx.request_id = command.request_id
            try:
                try:
                    check()
                except TransitionRefused as exc:
                    raise _refused(exc) from None
                await action()
            finally:
                ctx.caller_waiting = False
                ctx.request_id = None
            self._remember(command)
        self._wake = True
        return self._result()

    def _validate(self, command: Any, check: Callable[[], None]) -> None:
        if self._repeated(command):
            return
        try:
            check()
        except TransitionRefused as exc:
            raise _refused(exc) from None

    def _repeated(self, command: Any) -> bool:
        """True when the caller's idempotency key was honoured before (in this run or an
        earlier one); the same key with other arguments is refused."""
        request_id = command.request_id
        if request_id is None:
            return False
        for record in self._ctx.state.requests:
            if record.id == request_id:
                if record.fingerprint != command_fingerprint(command):
                    raise ApplicationError(
                        f"the idempotency key {request_id!r} was used for another request",
                        type=IDEMPOTENCY_KEY_REUSED,
                        non_retryable=True,
                    )
                return True
        return False

    def _remember(self, command: Any) -> None:
        if command.request_id is None:
            return
        now = workflow.now()
        kept = [r for r in self._ctx.state.requests if now - r.at < _REQUESTS_FOR]
        kept.append(
            RequestRecord(id=command.request_id, fingerprint=command_fingerprint(command), at=now)
        )
        self._ctx.state.requests = kept[-_REQUESTS_KEPT:]

    def _result(self) -> CommandResult:
        ctx = self._ctx
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
            next_action=self._next_action(),
        )

    # change_subscription ------------------------------------------------------------------

    @workflow.update(name="change_subscription")
    async def change_subscription(self, command: ChangeSubscription) -> CommandResult:
        ctx = self._ctx
        adopting: Terms | None = None
        if command.terms_version and command.terms_version != ctx.terms_version:
            await self._terms_loaded()
            if not self._repeated(command):
                # A plan change moves the customer to the caller's (today's) terms.
                adopting = await self._load_terms(command.terms_version)

        def check() -> None:
            checks.check_change(ctx.state, (adopting or ctx.terms or _no_terms()).catalog, command)

        async def change() -> None:
            if adopting is None:
                await self._change(command)
                return
            was, was_version = ctx.terms, ctx.terms_version
            ctx.terms, ctx.terms_version = adopting, command.terms_version
            try:
                await self._change(command, was=was.catalog if was else None)
            except BaseException:
                ctx.terms, ctx.terms_version = was, was_version
                raise

        return await self._command(command, check, change)

    async def _change(self, command: ChangeSubscription, *, was: Any = None) -> None:
        if self._ctx.state.status in SUBSCRIBABLE:
            await subscription.subscribe(self._ctx, command)
        else:
            await subscription.change_plan(self._ctx, command, was=was)

    @change_subscription.validator
    def _validate_change(self, command: ChangeSubscription) -> None:
        ctx = self._ctx
        other_terms = bool(command.terms_version) and command.terms_version != ctx.terms_version
        catalog = None if other_terms or ctx.terms is None else ctx.terms.catalog
        self._validate(command, lambda: checks.check_change(ctx.state, catalog, command))

    # cancel, reactivate, pause, resume --------------------------------------------------------

    @workflow.update(name="cancel")
    async def cancel(self, command: CancelSubscription) -> CommandResult:
        return await self._command(
            command,
            lambda: checks.check_cancel(self._ctx.state, command),
            lambda: subscription.cancel(self._ctx, command),
        )

    @cancel.validator
    def _validate_cancel(self, command: CancelSubscription) -> None:
        self._validate(command, lambda: checks.check_cancel(self._ctx.state, command))

    @workflow.update(name="reactivate")
    async def reactivate(self, command: ReactivateSubscription) -> CommandResult:
        return await self._command(
            command,
            lambda: checks.check_reactivate(self._ctx.state),
            lambda: subscription.reactivate(self._ctx, command),
        )

    @reactivate.validator
    def _validate_reactivate(self, command: ReactivateSubscription) -> None:
        self._validate(command, lambda: checks.check_reactivate(self._ctx.state))

    @workflow.update(name="pause")
    async def pause(self, command: PauseSubscription) -> CommandResult:
        return await self._command(
            command,
            lambda: checks.check_pause(self._ctx.state, command, workflow.now()),
            lambda: subscription.pause(self._ctx, command),
        )

    @pause.validator
    def _validate_pause(self, command: PauseSubscription) -> None:
        self._validate(
            command, lambda: checks.check_pause(self._ctx.state, command, workflow.now())
        )

    @workflow.update(name="resume")
    async def resume(self, command: ResumeSubscription) -> CommandResult:
        return await self._command(
            command,
            lambda: checks.check_resume(self._ctx.state),
            lambda: subscription.resume(self._ctx, command.actor),
        )

    @resume.validator
    def _validate_resume(self, command: ResumeSubscription) -> None:
        self._validate(command, lambda: checks.check_resume(self._ctx.state))

    # trial extension --------------------------------------------------------------------------

    @workflow.update(name="extend_trial")
    async def extend_trial(self, command: ExtendTrial) -> CommandResult:
        return await self._command(
            command,
            lambda: checks.check_extension(self._ctx.state, command),
            lambda: trial.extend(self._ctx, command),
        )

    @extend_trial.validator
    def _validate_extension(self, command: ExtendTrial) -> None:
        self._validate(command, lambda: checks.check_extension(self._ctx.state, command))

    @workflow.signal(name="extend_trial")
    async def extend_trial_signal(self, command: ExtendTrial) -> None:
        """The same extension from the Temporal Web UI (Send a Signal, name extend_trial,
        input {"days": 7, "reason": "..."}). A refused one is recorded, not applied."""
        await self._terms_loaded()
        async with self._lock:
            try:
                checks.check_extension(self._ctx.state, command)
            except TransitionRefused as exc:
                await effects.record(
                    self._ctx,
                    "admin_command_refused",
                    actor=command.actor,
                    data={"command": "extend_trial", "error": str(exc)},
                )
                return
            await trial.extend(self._ctx, command)
        self._wake = True

    # add-ons, card, erasure -------------------------------------------------------------------

    @workflow.update(name="purchase_addon")
    async def purchase_addon(self, command: PurchaseAddon) -> CommandResult:
        return await self._command(
            command,
            lambda: checks.check_addon(self._ctx.state, self._ctx.catalog, command),
            lambda: addons.purchase(self._ctx, command),
        )

    @purchase_addon.validator
    def _validate_addon(self, command: PurchaseAddon) -> None:
        if self._ctx.terms is None:
            return
        self._validate(
            command, lambda: checks.check_addon(self._ctx.state, self._ctx.catalog, command)
        )

    @workflow.update(name="update_payment_method")
    async def update_payment_method(self, command: UpdatePaymentMethod) -> CommandResult:
        return await self._command(
            command, lambda: None, lambda: dunning.update_payment_method(self._ctx, command)
        )

    @workflow.update(name="erase")
    async def erase(self, command: EraseCustomer) -> CommandResult:
        """GDPR erasure: end billing, erase the provider's and the app's personal data, and
        end this workflow (which never held personal data)."""

        async def erase() -> None:
            await erasure.erase(self._ctx, command)
            self._erased = True

        return await self._command(command, lambda: None, erase)

    # -- signals -------------------------------------------------------------------------------

    @workflow.signal(name="usage_threshold")
    async def usage_threshold(self, crossed: UsageThresholdCrossed) -> None:
        await self._terms_loaded()
        async with self._lock:
            await usage.threshold_crossed(self._ctx, crossed)

    @workflow.signal(name="payment_event")
    async def payment_event(self, event: PaymentEvent) -> None:
        await self._terms_loaded()
        async with self._lock:
            try:
                await provider_events.on_payment_event(self._ctx, event)
            except ApplicationError as exc:
                if workflow.patched(patches.FAILED_STEPS_RETRY):
                    # Read the provider's state once it answers again, instead.
                    await self._stall(timetable.RESYNC_KEY, exc)
                else:
                    await self._automation_failed(f"event:{event.id}", exc)
        self._wake = True

    # -- continue-as-new ----------------------------------------------------------------------

    async def _continue_as_new(self) -> None:
        # Let in-flight updates and signals finish so none is lost across the new run.
        await workflow.wait_condition(workflow.all_handlers_finished)
        ctx = self._ctx
        if not workflow.patched(patches.TERMS_KEPT_AT_CONTINUE_AS_NEW):
            current = await workflow.execute_activity_method(
                PolicyActivities.current_terms,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            ctx.terms, ctx.terms_version = current, None
        # Nothing is awaited from here on: a handler accepted now would be lost.
        assert ctx.terms is not None
        inline = ctx.terms_version is None
        workflow.continue_as_new(
            CustomerWorkflowInput(
                customer_id=ctx.state.customer_id,
                signed_up_at=ctx.state.signed_up_at,
                terms_version=ctx.terms_version,
                state=ctx.state,
                policy=ctx.terms.policy if inline else None,
                catalog=ctx.terms.catalog if inline else None,
            )
        )


def _new_state(params: CustomerWorkflowInput) -> CustomerState:
    # The trial's length and plan are the terms'; inline ones are at hand, versioned ones
    # are filled in once loaded (``_fill_trial``).
    state = CustomerState(
        customer_id=params.customer_id,
        status=Status.TRIALING,
        plan="",
        signed_up_at=params.signed_up_at,
        trial_started_at=params.signed_up_at,
        trial_planned_from=params.signed_up_at,
    )
    if params.policy is not None:
        _fill_trial(state, params.policy.trial.plan, params.policy.trial.length)
    return state


def _fill_trial(state: CustomerState, plan: str, length: timedelta) -> None:
    state.plan = plan
    state.trial_ends_at = state.signed_up_at + length


def _carry_over(state: CustomerState) -> None:
    """Derive what a state carried from an older run lacks."""
    if not state.winbacks_sent:
        state.winbacks_sent = sum(1 for k in state.done if k.startswith(f"{TrialStep.WINBACK}:"))
    usage_keys = [k for k in state.done if k.startswith("usage:")]
    if usage_keys:
        state.usage_notified = [*state.usage_notified, *usage_keys]
        state.done = [k for k in state.done if not k.startswith("usage:")]


def _final_action_lost(state: CustomerState) -> bool:
    dunning = state.dunning
    return (
        state.status is Status.PAST_DUE
        and dunning is not None
        and dunning.next_retry_at is None
        and dunning.final_action_at is None
    )


def _no_terms() -> Terms:
    raise AssertionError("terms are loaded before a command runs")
