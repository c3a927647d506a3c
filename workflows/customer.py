"""One workflow per customer: the lifecycle state machine and all of its timers."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.customers import (
        ApplyTransitionInput,
        CustomerActivities,
        CustomerViewUpdate,
        LedgerEntry,
    )
    from activities.emails import EmailActivities, SendEmailInput
    from activities.policy import PolicyActivities
    from domain.emails import EmailTemplate
    from domain.lifecycle import Status
    from domain.policy import Policy
    from domain.trial import TrialAction, TrialStep, trial_timetable
    from workflows import search_attributes as sa
    from workflows.messages import (
        CustomerSnapshot,
        CustomerState,
        CustomerWorkflowInput,
        NextAction,
    )

SYSTEM_ACTOR = "system"

_DB_TIMEOUT = timedelta(seconds=15)
_DB_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
_EMAIL_TIMEOUT = timedelta(seconds=30)
# Providers have outages; an email is worth retrying for a long time, never twice.
_EMAIL_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))


@workflow.defn(name="CustomerLifecycle")
class CustomerWorkflow:
    @workflow.init
    def __init__(self, params: CustomerWorkflowInput) -> None:
        self._policy: Policy = params.policy
        self._state: CustomerState = params.state or self._new_state(params)
        self._wake = False

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
            await self._perform_due_actions()
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            upcoming = self._next_action()
            self._wake = False
            timeout = None
            if upcoming is not None:
                timeout = max(upcoming.at - workflow.now(), timedelta(0))
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._wake, timeout=timeout)

    # -- queries ---------------------------------------------------------------------

    @workflow.query(name="state")
    def snapshot(self) -> CustomerSnapshot:
        upcoming = self._next_action()
        return CustomerSnapshot(
            state=self._state,
            next_action=NextAction(key=upcoming.key, at=upcoming.at) if upcoming else None,
            policy=self._policy,
        )

    # -- the trial -------------------------------------------------------------------

    async def _start_trial(self) -> None:
        state = self._state
        workflow.upsert_search_attributes([sa.CUSTOMER_ID.value_set(state.customer_id)])
        await self._transition(
            kind="trial_started",
            from_status=None,
            to_status=Status.TRIALING,
            data={"trial_ends_at": _iso(state.trial_ends_at)},
        )
        await self._send_email(
            EmailTemplate.WELCOME,
            key="welcome",
            data={
                "trial_days": max(1, self._policy.trial.length.days),
                "trial_ends_at": _iso(state.trial_ends_at),
            },
        )

    def _trial_actions(self) -> list[TrialAction]:
        state = self._state
        if state.status not in (Status.TRIALING, Status.TRIAL_EXPIRED):
            return []
        assert state.trial_ends_at is not None and state.trial_planned_from is not None
        actions = trial_timetable(
            trial_ends_at=state.trial_ends_at,
            planned_from=state.trial_planned_from,
            policy=self._policy.trial,
        )
        wanted = (
            {TrialStep.REMINDER, TrialStep.EXPIRE}
            if state.status is Status.TRIALING
            else {TrialStep.WINBACK}
        )
        done = set(state.done)
        return [a for a in actions if a.step in wanted and a.key not in done]

    def _next_action(self) -> TrialAction | None:
        actions = self._trial_actions()
        return min(actions, key=lambda a: a.at) if actions else None

    async def _perform_due_actions(self) -> None:
        while (action := self._next_action()) is not None and action.at <= workflow.now():
            await self._perform(action)
            self._state.done.append(action.key)

    async def _perform(self, action: TrialAction) -> None:
        state = self._state
        trial_ends_at = _iso(state.trial_ends_at)
        if action.step is TrialStep.REMINDER:
            await self._send_email(
                EmailTemplate.TRIAL_REMINDER,
                key=action.key,
                data={"days_left": action.whole_days, "trial_ends_at": trial_ends_at},
            )
        elif action.step is TrialStep.EXPIRE:
            await self._transition(
                kind="trial_expired",
                from_status=Status.TRIALING,
                to_status=Status.TRIAL_EXPIRED,
                data={"trial_ends_at": trial_ends_at},
            )
            await self._send_email(
                EmailTemplate.TRIAL_EXPIRED, key=action.key, data={"trial_ends_at": trial_ends_at}
            )
        elif action.step is TrialStep.WINBACK:
            await self._send_email(
                EmailTemplate.TRIAL_WINBACK,
                key=action.key,
                data={"days_since_expiry": action.whole_days, "trial_ends_at": trial_ends_at},
            )

    # -- effects ---------------------------------------------------------------------

    async def _transition(
        self,
        *,
        kind: str,
        from_status: Status | None,
        to_status: Status,
        actor: str = SYSTEM_ACTOR,
        mrr_delta_cents: int = 0,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Mirror the new state to the read model, append the ledger row, update visibility."""
        state = self._state
        state.status = to_status
        state.version += 1
        state.ledger_seq += 1
        entry = LedgerEntry(
            event_key=f"{state.customer_id}:{state.ledger_seq}",
            kind=kind,
            actor=actor,
            occurred_at=workflow.now(),
            from_status=from_status.value if from_status else None,
            to_status=to_status.value,
            plan=state.plan,
            interval=state.interval.value if state.interval else None,
            mrr_delta_cents=mrr_delta_cents,
            data=data or {},
        )
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
        return CustomerViewUpdate(
            status=state.status.value,
            plan=state.plan,
            interval=state.interval.value if state.interval else None,
            trial_started_at=state.trial_started_at,
            trial_ends_at=state.trial_ends_at,
            current_period_start=state.current_period_start,
            current_period_end=state.current_period_end,
            cancel_at_period_end=state.cancel_at_period_end,
            scheduled_change=None,
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

    async def _send_email(self, template: EmailTemplate, *, key: str, data: dict[str, Any]) -> None:
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

    async def _continue_as_new(self) -> None:
        # Let in-flight updates and signals finish so none is lost across the new run.
        await workflow.wait_condition(workflow.all_handlers_finished)
        policy = await workflow.execute_activity_method(
            PolicyActivities.current_policy,
            start_to_close_timeout=_DB_TIMEOUT,
            retry_policy=_DB_RETRY,
        )
        workflow.continue_as_new(
            CustomerWorkflowInput(
                customer_id=self._state.customer_id,
                signed_up_at=self._state.signed_up_at,
                policy=policy,
                state=self._state,
            )
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
