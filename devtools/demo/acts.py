"""What each persona's customer does (``personas.py``), step by step, as the app's backend
would: sign up (a read-model row, then the customer's workflow), then send the lifecycle
commands its steps call for as Temporal Updates, each at its moment (``clock.Days``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from adapters.payments.simulator.models import SimSubscription
from db.customers import new_trial_customer
from devtools.demo.clock import DAY, Phase
from devtools.demo.personas import Act, CustomerPlan, Recovery, Step
from devtools.demo.world import World
from domain.lifecycle import BillingInterval, Status
from domain.proration import next_period_end
from domain.retention import CustomerPosition, ExitReason, offers_for
from services.customer_workflows import customer_handle
from services.experiments import start_signed_up_workflow
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    AcceptOffer,
    CancelSubscription,
    ChangeSubscription,
    CommandResult,
    CustomerSnapshot,
    ExtendTrial,
    PauseSubscription,
    PurchaseAddon,
    ReactivateSubscription,
    RequestCancellation,
    ResumeSubscription,
    UpdatePaymentMethod,
)

ACTOR = "app:demo-seed"
ADMIN_ACTOR = "admin:demo-seed"
GOOD_CARD = "pm_card_visa"
DECLINED_CARD = "pm_card_chargeDeclined"
FAILING_CARD = "pm_card_chargeCustomerFail"
_ID_NAMESPACE = uuid.UUID("8d5f3a52-1c1e-4c84-9a57-2f4c0e6c9d11")


@dataclass
class SeededCustomer:
    plan: CustomerPlan
    id: str
    handle: WorkflowHandle[Any, Any]
    # The day the previous step took effect; the next one counts its delay from here.
    cursor: int


class StepRefused(Exception):
    """A step the customer could not take (a refused command): its script ends there."""


class Acts:
    """The customer scripts of a run, in its ``World``."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.engine = world.engine
        self.sessions = world.engine.sessions
        self.gateway = world.gateway
        self.clock = world.clock
        self.days = world.days
        self.gate = world.gate
        self.seed = world.seed
        self.day_of = world.day_of

    async def script(self, plan: CustomerPlan) -> None:
        await self.days.at(plan.signup_day, Phase.SIGNUP)
        customer = await self.sign_up(plan)
        for index, step in enumerate(plan.steps):
            following = plan.steps[index + 1] if index + 1 < len(plan.steps) else None
            try:
                more = await self.take(customer, step, following)
            except StepRefused as exc:
                self.world.refused.append(
                    f"{plan.external_id(self.seed)} ({plan.persona}) day {self.days.today}: "
                    f"{step.describe()}: {exc}"
                )
                return
            if not more:
                return

    async def sign_up(self, plan: CustomerPlan) -> SeededCustomer:
        """What ``POST /v1/customers`` does: the read-model row, then the workflow."""
        now = self.clock.now
        trial = self.engine.config.policy.trial
        customer_id = str(uuid.uuid5(_ID_NAMESPACE, f"{self.seed}:{plan.number}"))
        async with self.gate:
            async with self.sessions.begin() as session:
                session.add(
                    new_trial_customer(
                        customer_id=customer_id,
                        external_id=plan.external_id(self.seed),
                        email=plan.email,
                        name=plan.name,
                        trial=trial,
                        signed_up_at=now,
                    )
                )
            # As the API does: an experiment running decides the customer's terms.
            await start_signed_up_workflow(
                self.engine,
                customer_id=customer_id,
                subject=plan.external_id(self.seed),
                signed_up_at=now,
            )
        handle = customer_handle(self.engine.temporal, customer_id)
        return SeededCustomer(plan, customer_id, handle, cursor=plan.signup_day)

    async def snapshot(self, customer: SeededCustomer) -> CustomerSnapshot:
        async with self.gate:
            return await customer.handle.query(CustomerWorkflow.snapshot)

    async def command(
        self, customer: SeededCustomer, update: Any, argument: Any, *, expect_failure: bool = False
    ) -> CommandResult | CustomerSnapshot:
        async with self.gate:
            self.world.commands += 1
            try:
                result: CommandResult = await customer.handle.execute_update(update, argument)
            except WorkflowUpdateFailedError as exc:
                if expect_failure:
                    return await customer.handle.query(CustomerWorkflow.snapshot)
                cause = exc.cause
                message = cause.message if isinstance(cause, ApplicationError) else str(exc)
                raise StepRefused(message) from None
        if expect_failure:
            raise StepRefused("a command that should have failed went through")
        return result

    async def clear_of_period_end(
        self, customer: SeededCustomer, day: int
    ) -> CommandResult | CustomerSnapshot:
        """Wait until ``day``, moved to the next day when a period ends on it: the command
        then never races the workflow's period-end timer (a cancellation or a scheduled
        change taking effect), and every run takes the same path."""
        while True:
            await self.days.at(day)
            snapshot = await self.snapshot(customer)
            state = snapshot.state
            if state.current_period_end is None or state.status is Status.CANCELED:
                return snapshot
            if day != self.day_of(state.current_period_end):
                return snapshot
            day += 1

    async def take(self, customer: SeededCustomer, step: Step, following: Step | None) -> bool:
        """Carry out one step; False when the customer's story is over."""
        day = customer.cursor + step.after_days
        act = step.act
        if act is Act.CONVERT:
            return await self.convert(customer, step, day)
        if act is Act.EXTEND_TRIAL:
            await self.days.at(day)
            await self.command(
                customer,
                CustomerWorkflow.extend_trial,
                ExtendTrial(days=step.days, reason="demo: asked for more time", actor=ADMIN_ACTOR),
            )
            customer.cursor = day
            return True
        if act is Act.FAIL_RENEWAL:
            return await self.fail_renewal(customer, step, day)
        if act is Act.REACTIVATE:
            return await self.reactivate(customer, day)
        snapshot = await self.clear_of_period_end(customer, day)
        day = self.days.today
        if act is Act.CHANGE_PLAN:
            assert step.plan is not None and step.interval is not None
            result = await self.command(
                customer,
                CustomerWorkflow.change_subscription,
                ChangeSubscription(plan=step.plan, interval=step.interval, actor=ACTOR),
            )
            change = result.state.scheduled_change
            # A downgrade waits for the period end; let it happen before the next step.
            customer.cursor = self.day_of(change.effective_at) + 1 if change else day
        elif act is Act.ADDON:
            assert step.addon is not None
            await self.command(
                customer,
                CustomerWorkflow.purchase_addon,
                PurchaseAddon(addon=step.addon, quantity=step.quantity, actor=ACTOR),
            )
            customer.cursor = day
        elif act is Act.PAUSE:
            await self.pause(customer, step, snapshot, day)
        elif act is Act.SAVE_FLOW:
            await self.save_flow(customer, step, snapshot, day)
        elif act is Act.CANCEL:
            result = await self.command(
                customer,
                CustomerWorkflow.cancel,
                CancelSubscription(actor=ACTOR, at_period_end=step.at_period_end),
            )
            end = result.state.current_period_end
            reactivating = following is not None and following.act is Act.REACTIVATE
            if step.at_period_end and end is not None and not reactivating:
                customer.cursor = self.day_of(end) + 1
            else:
                customer.cursor = day
        else:  # pragma: no cover - every act is handled above
            raise AssertionError(act)
        return True

    async def convert(self, customer: SeededCustomer, step: Step, day: int) -> bool:
        assert step.plan is not None and step.interval is not None
        await self.days.at(day)
        if step.declined_first:
            await self.command(
                customer,
                CustomerWorkflow.change_subscription,
                ChangeSubscription(
                    plan=step.plan,
                    interval=step.interval,
                    actor=ACTOR,
                    payment_method=DECLINED_CARD,
                ),
                expect_failure=True,
            )
        await self.command(
            customer,
            CustomerWorkflow.change_subscription,
            ChangeSubscription(
                plan=step.plan, interval=step.interval, actor=ACTOR, payment_method=GOOD_CARD
            ),
        )
        customer.cursor = self.days.today
        return True

    async def save_flow(
        self,
        customer: SeededCustomer,
        step: Step,
        snapshot: CommandResult | CustomerSnapshot,
        day: int,
    ) -> None:
        """As the app does: the offers for the reason (``POST .../cancellation-request``),
        then one taken (``.../offers/accept``) or a cancellation at the period end."""
        assert step.reason is not None
        state, config = snapshot.state, self.engine.config
        reason = ExitReason(step.reason)
        position = CustomerPosition(status=state.status, plan=state.plan, interval=state.interval)
        offers = offers_for(position, reason, config.catalog, config.save_flow)
        await self.command(
            customer,
            CustomerWorkflow.request_cancellation,
            RequestCancellation(
                reason=reason.value, offers=tuple(o.kind.value for o in offers), actor=ACTOR
            ),
        )
        taken = next((o for o in offers if o.kind.value == step.take), None)
        if taken is None:
            result = await self.command(
                customer, CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR)
            )
            end = result.state.current_period_end
            customer.cursor = self.day_of(end) + 1 if end is not None else day
            return
        result = await self.command(
            customer,
            CustomerWorkflow.accept_offer,
            AcceptOffer(
                kind=taken.kind.value,
                actor=ACTOR,
                reason=reason.value,
                coupon=taken.coupon,
                plan=taken.plan,
                interval=taken.interval,
                days=taken.days,
            ),
        )
        change = result.state.scheduled_change
        customer.cursor = self.day_of(change.effective_at) + 1 if change else day

    async def reactivate(self, customer: SeededCustomer, day: int) -> bool:
        """Withdraw a cancellation before the period ends (on the last day before, at the
        latest)."""
        snapshot = await self.snapshot(customer)
        end = snapshot.state.current_period_end
        if end is not None:
            day = min(day, self.day_of(end) - 1)
        await self.days.at(max(day, customer.cursor))
        await self.command(
            customer, CustomerWorkflow.reactivate, ReactivateSubscription(actor=ACTOR)
        )
        customer.cursor = self.days.today
        return True

    async def pause(
        self,
        customer: SeededCustomer,
        step: Step,
        snapshot: CommandResult | CustomerSnapshot,
        day: int,
    ) -> None:
        state = snapshot.state
        pause_days = step.pause_days
        if state.subscription_id is not None and state.interval is not None:
            # Resume clear of a renewal, so the renewal's invoice is voided or charged the
            # same way in every run.
            ends = await self.period_end_days(state.subscription_id, state.interval, count=4)
            while any(abs(day + pause_days - end) <= 1 for end in ends):
                pause_days += 3
        if step.manual_resume:
            await self.command(customer, CustomerWorkflow.pause, PauseSubscription(actor=ACTOR))
            await self.days.at(day + pause_days)
            await self.command(customer, CustomerWorkflow.resume, ResumeSubscription(actor=ACTOR))
        else:
            resumes_at = self.clock.now + pause_days * DAY
            await self.command(
                customer,
                CustomerWorkflow.pause,
                PauseSubscription(actor=ACTOR, resumes_at=resumes_at),
            )
        customer.cursor = day + pause_days + 1

    async def period_end_days(
        self, subscription_id: str, interval: BillingInterval, *, count: int
    ) -> list[int]:
        """The days of the subscription's next ``count`` period ends, from its billing
        cycle anchor at the provider (the simulator)."""
        async with self.sessions() as session:
            sub = await session.get(SimSubscription, subscription_id)
        if sub is None:
            return []
        ends = [sub.current_period_end]
        while len(ends) < count:
            ends.append(next_period_end(sub.billing_cycle_anchor, interval, ends[-1]))
        return [self.day_of(end) for end in ends]

    async def fail_renewal(self, customer: SeededCustomer, step: Step, day: int) -> bool:
        """The card starts failing the day before a renewal: the renewal fails and dunning
        runs; the customer recovers (a new card, or a fixed card the next retry charges) or
        dunning is exhausted and the subscription canceled.

        The renewal happens on the day the period ends (at its RENEW moment), so dunning's
        retries fall on RENEW moments 1, 3, 5 and 7 days later; the customer acts (ACT) in
        between."""
        while True:
            await self.days.at(day)
            snapshot = await self.snapshot(customer)
            state = snapshot.state
            if state.status is not Status.ACTIVE or state.current_period_end is None:
                raise StepRefused(f"not active ({state.status.value})")
            end_day = self.day_of(state.current_period_end)
            if day <= end_day - 1:
                break
            day = end_day + 1
        await self.days.at(end_day - 1)
        await self.command(
            customer,
            CustomerWorkflow.update_payment_method,
            UpdatePaymentMethod(actor=ACTOR, payment_method=FAILING_CARD),
        )
        await self.days.at(end_day + 1)
        state = (await self.snapshot(customer)).state
        if state.status is not Status.PAST_DUE or state.provider_customer_id is None:
            raise StepRefused(f"the renewal did not fail ({state.status.value})")
        if step.recovery is None:
            # Dunning runs its course: the last retry fails a week after the renewal.
            customer.cursor = end_day + 8
            return False
        # After the first retry failed, before the second.
        await self.days.at(end_day + 2)
        if step.recovery is Recovery.NEW_CARD:
            await self.command(
                customer,
                CustomerWorkflow.update_payment_method,
                UpdatePaymentMethod(actor=ACTOR, payment_method=GOOD_CARD),
            )
            customer.cursor = end_day + 2
        else:
            # Fixed at the provider (the hosted page, the portal); the engine learns at its
            # next retry.
            async with self.gate:
                await self.gateway.attach_payment_method(
                    state.provider_customer_id,
                    GOOD_CARD,
                    idempotency_key=f"demo-fix:{customer.id}:{end_day}",
                    subscription_id=state.subscription_id,
                )
            customer.cursor = end_day + 4
        return True
