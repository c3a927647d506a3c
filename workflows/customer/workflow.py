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
    from domain.catalog import Catalog
    from domain.changes import SUBSCRIBABLE
    from domain.failures import TRANSITION_REFUSED
    from domain.lifecycle import TransitionRefused
    from domain.payments import PaymentEvent
    from domain.terms import Terms
    from workflows import search_attributes as sa
    from workflows.customer import (
        addons,
        checks,
        dunning,
        effects,
        erasure,
        offers,
        patches,
        provider_events,
        requests,
        runs,
        stalls,
        subscription,
        timetable,
        trial,
        usage,
    )
    from workflows.customer.context import SYSTEM_ACTOR, CustomerContext, shared_terms
    from workflows.customer.timetable import Due, DueKind
    from workflows.messages import (
        AcceptOffer,
        CancelSubscription,
        ChangeSubscription,
        ChurnRiskScored,
        CommandResult,
        CustomerSnapshot,
        CustomerWorkflowInput,
        EraseCustomer,
        ExtendTrial,
        MakeOffer,
        NextAction,
        PauseSubscription,
        PurchaseAddon,
        ReactivateSubscription,
        RequestCancellation,
        ResumeSubscription,
        UpdatePaymentMethod,
        UsageThresholdCrossed,
    )

_TERMS_TIMEOUT = timedelta(seconds=10)
_TERMS_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


def _refused(exc: TransitionRefused) -> ApplicationError:
    return ApplicationError(str(exc), type=TRANSITION_REFUSED, non_retryable=True)


@workflow.defn(name="CustomerLifecycle")
class CustomerWorkflow:
    @workflow.init
    def __init__(self, params: CustomerWorkflowInput) -> None:
        terms = None
        if params.policy is not None and params.catalog is not None:
            terms = Terms(policy=params.policy, catalog=params.catalog)
        state = params.state or runs.new_state(params)
        runs.carry_over(state)
        self._ctx = CustomerContext(state, terms, params.terms_version, params.generation)
        self._wake = False
        self._lock = asyncio.Lock()
        self._erased = False

    @workflow.run
    async def run(self, params: CustomerWorkflowInput) -> None:
        ctx = self._ctx
        if ctx.terms is None:
            ctx.terms = await self._load_terms(params.terms_version)
            if params.state is None:
                runs.start_trial(ctx.state, ctx.policy.trial.plan, ctx.policy.trial.length)
        if params.state is None:
            await trial.start(ctx)
        elif runs.final_action_lost(ctx.state) and ctx.fixed(patches.DUNNING_CATCH_UP):
            assert ctx.state.dunning is not None
            ctx.state.dunning.final_action_at = workflow.now()
        while True:
            await self._perform_due_actions()
            if ctx.since(patches.LEAN_RUNS):
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
        loaded = await workflow.execute_local_activity_method(
            PolicyActivities.terms,
            version,
            start_to_close_timeout=_TERMS_TIMEOUT,
            retry_policy=_TERMS_RETRY,
        )
        return shared_terms(version, loaded)

    async def _terms_loaded(self) -> None:
        # Only awaits in the first moments of a run; otherwise no await (and no reordering
        # of handlers against the histories of runs that had their terms inline).
        if self._ctx.terms is None:
            await workflow.wait_condition(lambda: self._ctx.terms is not None)

    async def _continue_as_new(self) -> None:
        # Let in-flight updates and signals finish so none is lost across the new run.
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._ctx.fixed(patches.TERMS_KEPT_AT_CONTINUE_AS_NEW):
            self._ctx.terms = await workflow.execute_activity_method(
                PolicyActivities.current_terms,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            self._ctx.terms_version = None
        # Nothing is awaited from here on: a handler accepted now would be lost.
        workflow.continue_as_new(runs.next_run(self._ctx))

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
        if not self._ctx.since(patches.LEAN_RUNS):
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
        ctx = self._ctx
        try:
            await self._run_action(action)
        except ApplicationError as exc:
            if ctx.fixed(patches.FAILED_STEPS_RETRY):
                # Not marked done: tried again after a backoff, and shown to admins.
                await stalls.stall(ctx, action.key, exc)
                return
            await stalls.failed_once(ctx, action.key, exc)
        else:
            if action.key in ctx.state.stalled:
                await stalls.unstall(ctx, action.key)
        if action.key not in ctx.state.done and action.kind is not DueKind.RESYNC:
            ctx.state.done.append(action.key)

    async def _run_action(self, action: Due) -> None:
        ctx = self._ctx
        if action.kind is DueKind.TRIAL:
            assert action.trial is not None
            await trial.run_step(ctx, action.trial)
        elif action.kind is DueKind.PERIOD_END:
            await subscription.period_ended(ctx, action.at, actor=SYSTEM_ACTOR)
        elif action.kind is DueKind.DUNNING_RETRY:
            await dunning.retry(ctx)
        elif action.kind is DueKind.DUNNING_FINAL:
            await dunning.final_action(ctx)
        elif action.kind is DueKind.AUTO_RESUME:
            await subscription.auto_resume(ctx)
        else:
            await provider_events.resync(ctx)

    # -- commands ------------------------------------------------------------------------------

    async def _command(
        self,
        command: Any,
        action: Callable[[], Awaitable[None]],
        *,
        catalog: Catalog | None = None,
    ) -> CommandResult:
        """The one path of every command: the lock, the rules again, the work, the answer."""
        await self._terms_loaded()
        ctx = self._ctx
        async with self._lock:
            if requests.repeated(ctx.state, command):
                return requests.result(ctx, self._next_action())
            ctx.caller_waiting = True
            ctx.request_id = command.request_id
            try:
                try:
                    checks.check(
                        ctx.state,
                        catalog or ctx.catalog,
                        command,
                        workflow.now(),
                        # Only change_subscription passes the catalog it adopts.
                        new_terms=lambda: (
                            catalog is not None and workflow.patched(patches.REPRICE_AT_RENEWAL)
                        ),
                    )
                except TransitionRefused as exc:
                    raise _refused(exc) from None
                await action()
            finally:
                ctx.caller_waiting = False
                ctx.request_id = None
            requests.remember(ctx.state, command, workflow.now())
        self._wake = True
        return requests.result(ctx, self._next_action())

    def _validate(self, command: Any, *, catalog_known: bool = True) -> None:
        ctx = self._ctx
        if requests.repeated(ctx.state, command):
            return
        catalog = ctx.terms.catalog if ctx.terms is not None and catalog_known else None
        try:
            checks.check(ctx.state, catalog, command, workflow.now())
        except TransitionRefused as exc:
            raise _refused(exc) from None

    @workflow.update(name="change_subscription")
    async def change_subscription(self, command: ChangeSubscription) -> CommandResult:
        ctx = self._ctx
        adopting: Terms | None = None
        if command.terms_version and command.terms_version != ctx.terms_version:
            await self._terms_loaded()
            if not requests.repeated(ctx.state, command):
                # A plan change moves the customer to the caller's (today's) terms.
                adopting = await self._load_terms(command.terms_version)

        async def change() -> None:
            if adopting is None:
                await self._change(command)
                return
            was, was_version = ctx.terms, ctx.terms_version
            # The current plan's prices as the provider bills them: the billed currency's
            # view after a currency-changing Checkout (else the terms' catalog itself, so a
            # run without ``billed_currency`` does as before and no patch is needed).
            was_catalog = ctx.catalog if was is not None else None
            ctx.terms, ctx.terms_version = adopting, command.terms_version
            try:
                await self._change(command, was=was_catalog)
            except BaseException:
                ctx.terms, ctx.terms_version = was, was_version
                raise

        return await self._command(command, change, catalog=adopting.catalog if adopting else None)

    async def _change(self, command: ChangeSubscription, *, was: Catalog | None = None) -> None:
        if self._ctx.state.status in SUBSCRIBABLE:
            await subscription.subscribe(self._ctx, command)
        else:
            await subscription.change_plan(self._ctx, command, was=was)

    @change_subscription.validator
    def _validate_change(self, command: ChangeSubscription) -> None:
        other_terms = (
            bool(command.terms_version) and command.terms_version != self._ctx.terms_version
        )
        self._validate(command, catalog_known=not other_terms)

    @workflow.update(name="cancel")
    async def cancel(self, command: CancelSubscription) -> CommandResult:
        return await self._command(command, lambda: subscription.cancel(self._ctx, command))

    @cancel.validator
    def _validate_cancel(self, command: CancelSubscription) -> None:
        self._validate(command)

    @workflow.update(name="reactivate")
    async def reactivate(self, command: ReactivateSubscription) -> CommandResult:
        return await self._command(command, lambda: subscription.reactivate(self._ctx, command))

    @reactivate.validator
    def _validate_reactivate(self, command: ReactivateSubscription) -> None:
        self._validate(command)

    @workflow.update(name="pause")
    async def pause(self, command: PauseSubscription) -> CommandResult:
        return await self._command(command, lambda: subscription.pause(self._ctx, command))

    @pause.validator
    def _validate_pause(self, command: PauseSubscription) -> None:
        self._validate(command)

    @workflow.update(name="resume")
    async def resume(self, command: ResumeSubscription) -> CommandResult:
        return await self._command(command, lambda: subscription.resume(self._ctx, command.actor))

    @resume.validator
    def _validate_resume(self, command: ResumeSubscription) -> None:
        self._validate(command)

    @workflow.update(name="extend_trial")
    async def extend_trial(self, command: ExtendTrial) -> CommandResult:
        return await self._command(command, lambda: trial.extend(self._ctx, command))

    @extend_trial.validator
    def _validate_extension(self, command: ExtendTrial) -> None:
        self._validate(command)

    @workflow.update(name="purchase_addon")
    async def purchase_addon(self, command: PurchaseAddon) -> CommandResult:
        return await self._command(command, lambda: addons.purchase(self._ctx, command))

    @purchase_addon.validator
    def _validate_addon(self, command: PurchaseAddon) -> None:
        self._validate(command)

    @workflow.update(name="request_cancellation")
    async def request_cancellation(self, command: RequestCancellation) -> CommandResult:
        """The save flow's first step: the exit reason and the offers shown, in the ledger."""
        return await self._command(command, lambda: offers.request_cancellation(self._ctx, command))

    @request_cancellation.validator
    def _validate_request_cancellation(self, command: RequestCancellation) -> None:
        self._validate(command)

    @workflow.update(name="accept_offer")
    async def accept_offer(self, command: AcceptOffer) -> CommandResult:
        return await self._command(command, lambda: offers.accept(self._ctx, command))

    @accept_offer.validator
    def _validate_accept_offer(self, command: AcceptOffer) -> None:
        self._validate(command)

    @workflow.update(name="update_payment_method")
    async def update_payment_method(self, command: UpdatePaymentMethod) -> CommandResult:
        return await self._command(
            command, lambda: dunning.update_payment_method(self._ctx, command)
        )

    @workflow.update(name="erase")
    async def erase(self, command: EraseCustomer) -> CommandResult:
        """GDPR erasure: end billing, erase the provider's and the app's personal data, and
        end this workflow (which never held personal data)."""

        async def erase() -> None:
            await erasure.erase(self._ctx, command)
            self._erased = True

        return await self._command(command, erase)

    # -- signals -------------------------------------------------------------------------------

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

    @workflow.signal(name="churn_risk")
    async def churn_risk(self, scored: ChurnRiskScored) -> None:
        """The daily churn run's band for the customer, searchable as ``ChurnRisk``."""
        await self._terms_loaded()
        if workflow.patched(patches.CHURN_RISK_ATTRIBUTE):
            effects.upsert_search_attributes(self._ctx, [(sa.CHURN_RISK, scored.risk)])

    @workflow.signal(name="make_offer")
    async def make_offer(self, offer: MakeOffer) -> None:
        """An offer from a campaign or the churn run: sent once per offer id."""
        await self._terms_loaded()
        if not workflow.patched(patches.OFFERS):
            return
        async with self._lock:
            await offers.make(self._ctx, offer)
        self._wake = True

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
                if self._ctx.fixed(patches.FAILED_STEPS_RETRY):
                    # Read the provider's state once it answers again, instead.
                    await stalls.stall(self._ctx, timetable.RESYNC_KEY, exc)
                else:
                    await stalls.failed_once(self._ctx, f"event:{event.id}", exc)
        self._wake = True
