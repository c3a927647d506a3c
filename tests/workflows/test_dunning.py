"""Payment failures and dunning on the time-skipping server, with real durations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from adapters.payments.base import (
    CardDeclined,
    PaymentGateway,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
)
from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator.models import SimCharge
from adapters.payments.stripe_objects import parse_event
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer, Invoice, Notification
from domain.lifecycle import BillingInterval
from domain.payments import InvoiceInfo
from domain.policy import Policy
from tests.factories.histories import record_history
from tests.factories.policies import days, make_policy
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.workers import make_simulator, make_worker
from tests.factories.workflows import Started, start_customer
from workflows import search_attributes as sa
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    CommandResult,
    UpdatePaymentMethod,
)

ACTOR = "app:test"
RETRIES = [days(1), days(3), days(5), days(7)]


@dataclass
class Dunning:
    env: WorkflowEnvironment
    sessions: SessionFactory
    simulator: SimulatedGateway
    started: Started

    @property
    def customer_id(self) -> str:
        return self.started.customer.id

    async def update(self, update: Any, command: Any) -> CommandResult:
        return cast(CommandResult, await self.started.handle.execute_update(update, command))

    async def provider_customer(self) -> str:
        async with self.sessions() as session:
            customer = await session.get(Customer, self.customer_id)
            assert customer is not None and customer.provider_customer_id is not None
            return customer.provider_customer_id

    async def fail_next_renewal(self) -> InvoiceInfo:
        """Swap in a card that attaches but never pays, then renew: dunning starts."""
        await self.update(
            CustomerWorkflow.update_payment_method,
            UpdatePaymentMethod(actor=ACTOR, payment_method="pm_card_chargeCustomerFail"),
        )
        events = await self.simulator.advance_to_period_end(await self.provider_customer())
        failed = None
        for raw in events:
            event = parse_event(raw)
            if event.type == "invoice.payment_failed":
                failed = event.invoice
            await self.started.handle.signal(CustomerWorkflow.payment_event, event)
        assert failed is not None, [e["type"] for e in events]
        await eventually(self.started.snapshot, lambda s: s.state.status == "past_due")
        # The status changes first; its ledger row, email and notification follow.
        await eventually(self.templates, lambda t: t.count("payment_failed") == 1)
        return failed

    async def fix_card_quietly(self) -> None:
        """The customer replaces the card at the provider; the engine's next retry uses it."""
        snapshot = await self.started.snapshot()
        # As the Portal does: the new card replaces the subscription's own card too (the
        # failing one became the subscription's when the customer set it through the API).
        await self.simulator.attach_payment_method(
            await self.provider_customer(),
            "pm_card_visa",
            idempotency_key=f"fix:{id(self)}",
            subscription_id=snapshot.state.subscription_id,
        )

    async def templates(self) -> list[str]:
        return [e.template for e in await outbox(self.sessions, self.customer_id)]


async def _dunning(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    config: EngineConfig,
    task_queue: str,
    policy: Policy,
    gateway: PaymentGateway | None = None,
    plan: str = "pro",
) -> AsyncIterator[Dunning]:
    simulator = make_simulator(sessions, config)
    assert isinstance(simulator, SimulatedGateway)
    async with make_worker(
        env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=config,
        policy=policy,
        gateway=gateway or simulator,
    ):
        started = await start_customer(env, sessions, config, task_queue, policy=policy)
        dunning = Dunning(env, sessions, simulator, started)
        await dunning.update(
            CustomerWorkflow.change_subscription,
            ChangeSubscription(
                plan=plan,
                interval=BillingInterval.MONTH,
                actor=ACTOR,
                payment_method="pm_card_visa",
            ),
        )
        yield dunning


@pytest.fixture
async def dunning(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[Dunning]:
    policy = make_policy(engine_config)
    async for running in _dunning(time_skipping_env, sessions, engine_config, task_queue, policy):
        yield running


def _failures(count: int) -> Callable[[list[str]], bool]:
    return lambda templates: templates.count("payment_failed") == count


async def _sleep_until(env: WorkflowEnvironment, started_at: Any, offset: timedelta) -> None:
    remaining = started_at + offset - await env.get_current_time()
    if remaining > timedelta(0):
        await env.sleep(remaining)
    await env.sleep(timedelta(minutes=1))


async def test_failed_renewal_starts_dunning_with_email_notification_and_next_retry(
    dunning: Dunning,
) -> None:
    invoice = await dunning.fail_next_renewal()
    snapshot = await dunning.started.snapshot()
    state = snapshot.state
    assert state.status == "past_due"
    assert state.dunning is not None and state.dunning.invoice_id == invoice.id
    assert state.dunning.next_retry_at == state.dunning.started_at + RETRIES[0]
    # Admins see the next retry in the workflow's query.
    assert snapshot.next_action is not None
    assert snapshot.next_action.key.startswith(f"dunning_retry:{invoice.id}:2:")
    assert snapshot.next_action.at == state.dunning.next_retry_at
    emails = await outbox(dunning.sessions, dunning.customer_id)
    failed = emails[-1]
    assert failed.template == "payment_failed"
    assert failed.data["attempt"] == 1
    assert failed.data["next_retry_at"] == state.dunning.next_retry_at.isoformat()
    assert "/billing/payment-method" in (failed.body or "")

    async def notes() -> list[Notification]:
        async with dunning.sessions() as session:
            return list(
                await session.scalars(
                    select(Notification).where(Notification.customer_id == dunning.customer_id)
                )
            )

    # The in-app notification follows its email.
    found = await eventually(notes, lambda n: len(n) == 1)
    assert [(n.kind, n.cta_label) for n in found] == [("payment_failed", "Update card")]
    row = (await ledger(dunning.sessions, dunning.customer_id))[-1]
    assert (row.kind, row.from_status, row.to_status, row.mrr_delta_cents) == (
        "payment_failed",
        "active",
        "past_due",
        0,
    )


@pytest.mark.parametrize("recovering_retry", [1, 2, 3, 4])
async def test_recovery_at_each_retry(
    dunning: Dunning, time_skipping_env: WorkflowEnvironment, recovering_retry: int
) -> None:
    invoice = await dunning.fail_next_renewal()
    state = (await dunning.started.snapshot()).state
    assert state.dunning is not None
    started_at = state.dunning.started_at
    for retry in range(1, recovering_retry):
        await _sleep_until(time_skipping_env, started_at, RETRIES[retry - 1])
        await eventually(dunning.templates, _failures(retry + 1))
    await dunning.fix_card_quietly()
    await _sleep_until(time_skipping_env, started_at, RETRIES[recovering_retry - 1])
    snapshot = await eventually(dunning.started.snapshot, lambda s: s.state.status == "active")
    assert snapshot.state.dunning is None
    templates = await dunning.templates()
    assert templates.count("payment_failed") == recovering_retry
    assert templates[-1] == "payment_recovered"
    recovered = (await ledger(dunning.sessions, dunning.customer_id))[-1]
    assert (recovered.kind, recovered.data["via"], recovered.data["attempts"]) == (
        "payment_recovered",
        "retry",
        recovering_retry,
    )
    async with dunning.sessions() as session:
        paid = await session.get(Invoice, invoice.id)
        assert paid is not None and paid.status == "paid"
    # The rest of the schedule is gone.
    await time_skipping_env.sleep(days(8))
    assert (await dunning.templates()).count("payment_failed") == recovering_retry
    await record_history(dunning.started.handle, f"dunning_recovered_at_retry_{recovering_retry}")


async def test_a_retry_still_waiting_for_3ds_reminds_the_customer_to_confirm(
    dunning: Dunning, time_skipping_env: WorkflowEnvironment
) -> None:
    """The bank wants 3-D Secure on the renewal and the customer has not confirmed: each
    retry fails the same way and reminds them of the link; never "update your card"."""
    await dunning.update(
        CustomerWorkflow.update_payment_method,
        UpdatePaymentMethod(actor=ACTOR, payment_method="pm_card_authenticationRequired"),
    )
    events = await dunning.simulator.advance_to_period_end(await dunning.provider_customer())
    for raw in events:
        await dunning.started.handle.signal(CustomerWorkflow.payment_event, parse_event(raw))
    asked = lambda templates: templates.count("payment_action_required")  # noqa: E731
    await eventually(dunning.templates, lambda t: asked(t) == 1)
    state = (await dunning.started.snapshot()).state
    assert state.status == "past_due" and state.dunning is not None
    started_at = state.dunning.started_at
    await _sleep_until(time_skipping_env, started_at, RETRIES[0])
    await eventually(dunning.templates, lambda t: asked(t) == 2)
    await _sleep_until(time_skipping_env, started_at, RETRIES[1])
    templates = await eventually(dunning.templates, lambda t: asked(t) == 3)
    assert "payment_failed" not in templates, templates
    reminders = [
        e
        for e in await outbox(dunning.sessions, dunning.customer_id)
        if e.template == "payment_action_required"
    ]
    assert [e.data.get("attempt") for e in reminders] == [None, 2, 3]
    assert all("/invoices/" in (e.data["hosted_invoice_url"] or "") for e in reminders)
    kinds = [r.kind for r in await ledger(dunning.sessions, dunning.customer_id)]
    assert kinds.count("payment_retry_failed") == 2
    await record_history(dunning.started.handle, "dunning_retry_reminds_confirmation")


async def test_recovery_by_new_card_is_immediate(
    dunning: Dunning, time_skipping_env: WorkflowEnvironment
) -> None:
    await dunning.fail_next_renewal()
    # A card that declines too: the caller hears it, dunning goes on.
    with pytest.raises(WorkflowUpdateFailedError):
        await dunning.update(
            CustomerWorkflow.update_payment_method,
            UpdatePaymentMethod(actor=ACTOR, payment_method="pm_card_chargeCustomerFail"),
        )
    assert (await dunning.started.snapshot()).state.status == "past_due"
    snapshot = await dunning.update(
        CustomerWorkflow.update_payment_method,
        UpdatePaymentMethod(actor=ACTOR, payment_method="pm_card_visa"),
    )
    assert (snapshot.state.status, snapshot.state.dunning) == ("active", None)
    recovered = (await ledger(dunning.sessions, dunning.customer_id))[-1]
    assert (recovered.kind, recovered.data["via"]) == ("payment_recovered", "new_card")
    await time_skipping_env.sleep(days(8))
    templates = await dunning.templates()
    assert templates.count("payment_failed") == 1
    assert templates.count("payment_recovered") == 1
    await record_history(dunning.started.handle, "dunning_recovered_by_new_card")


async def test_exhausted_schedule_cancels(
    dunning: Dunning, time_skipping_env: WorkflowEnvironment
) -> None:
    await dunning.fail_next_renewal()
    await time_skipping_env.sleep(days(7) + timedelta(hours=1))
    snapshot = await eventually(dunning.started.snapshot, lambda s: s.state.status == "canceled")
    assert snapshot.state.mrr_cents == 0
    templates = await dunning.templates()
    assert templates.count("payment_failed") == 5  # the renewal, then four retries
    assert templates[-1] == "subscription_canceled"
    events = await ledger(dunning.sessions, dunning.customer_id)
    assert [e.kind for e in events].count("payment_retry_failed") == 4
    last = events[-1]
    assert (last.kind, last.from_status, last.mrr_delta_cents) == (
        "subscription_canceled",
        "past_due",
        -9900,
    )
    assert (last.data["reason"], last.data["voluntary"]) == ("dunning_exhausted", False)
    retries = [e.occurred_at for e in events if e.kind == "payment_retry_failed"]
    failed_at = next(e.occurred_at for e in events if e.kind == "payment_failed")
    offsets = [round((at - failed_at) / timedelta(hours=1)) for at in retries]
    assert offsets == [24, 72, 120, 168]
    await record_history(dunning.started.handle, "dunning_exhausted_cancel")


async def test_exhausted_schedule_downgrades_when_configured(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    policy = make_policy(engine_config, final_action="downgrade", downgrade_plan="starter")
    async for dunning in _dunning(time_skipping_env, sessions, engine_config, task_queue, policy):
        invoice = await dunning.fail_next_renewal()
        await time_skipping_env.sleep(days(7) + timedelta(hours=1))
        snapshot = await eventually(
            dunning.started.snapshot,
            lambda s: s.state.status == "active" and s.state.plan == "starter",
        )
        assert (snapshot.state.mrr_cents, snapshot.state.dunning) == (2900, None)
        templates = await dunning.templates()
        assert templates.count("payment_failed") == 5
        assert templates[-1] == "plan_changed"
        last = (await ledger(sessions, dunning.customer_id))[-1]
        assert (last.kind, last.from_status, last.to_status, last.mrr_delta_cents) == (
            "plan_changed",
            "past_due",
            "active",
            -7000,
        )
        assert last.data["reason"] == "dunning_exhausted"
        async with sessions() as session:
            written_off = await session.get(Invoice, invoice.id)
            assert written_off is not None and written_off.status == "uncollectible"
    await record_history(dunning.started.handle, "dunning_exhausted_downgrade")


class PaidMeanwhile:
    """The customer pays the open invoice on the hosted page while the engine's retry is on
    its way to the provider: the retry must find it paid and charge nothing."""

    def __init__(self, inner: SimulatedGateway, customer_fixes_card: Any) -> None:
        self._inner = inner
        self._fix = customer_fixes_card
        self.raced = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceInfo:
        if not self.raced.is_set():
            self.raced.set()
            await self._fix()
            await self._inner.pay_invoice(invoice_id, idempotency_key="customer-on-hosted-page")
        return await self._inner.pay_invoice(invoice_id, idempotency_key=idempotency_key)


async def test_payment_while_a_retry_is_in_flight_charges_once(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    policy = make_policy(engine_config)
    simulator = make_simulator(sessions, engine_config)
    assert isinstance(simulator, SimulatedGateway)
    holder: dict[str, Dunning] = {}

    async def fix() -> None:
        await holder["d"].fix_card_quietly()

    racing = PaidMeanwhile(simulator, fix)
    async for dunning in _dunning(
        time_skipping_env,
        sessions,
        engine_config,
        task_queue,
        policy,
        gateway=cast(PaymentGateway, racing),
    ):
        holder["d"] = dunning
        invoice = await dunning.fail_next_renewal()
        await time_skipping_env.sleep(days(1) + timedelta(minutes=1))
        await eventually(dunning.started.snapshot, lambda s: s.state.status == "active")
        assert racing.raced.is_set()
        # The provider's invoice.paid for the customer's own payment arrives afterwards.
        paid = [
            parse_event(e)
            for e in await simulator.events(await dunning.provider_customer())
            if e["type"] == "invoice.paid"
        ]
        for event in paid:
            await dunning.started.handle.signal(CustomerWorkflow.payment_event, event)
        await time_skipping_env.sleep(days(8))
        templates = await dunning.templates()
        async with sessions() as session:
            charges = list(
                await session.scalars(
                    select(SimCharge).where(
                        SimCharge.invoice_id == invoice.id, SimCharge.status == "succeeded"
                    )
                )
            )
    assert len(charges) == 1
    assert templates.count("payment_recovered") == 1
    assert templates.count("payment_failed") == 1
    await record_history(dunning.started.handle, "dunning_paid_while_retry_in_flight")


# -- failures that are not the card's -----------------------------------------------------


class Flaky:
    """The simulator, except that the named calls fail while ``failing`` is set: refused
    (a request the provider will not take) or unreachable (an outage)."""

    def __init__(self, inner: SimulatedGateway, calls: set[str], error: type[Exception]) -> None:
        self._inner = inner
        self._calls = calls
        self._error = error
        self.failing = False
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if name not in self._calls:
            return found

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.failing:
                self.failures += 1
                if self._error is PaymentRequestRejected:
                    raise PaymentRequestRejected("this invoice is locked", code="invoice_locked")
                raise PaymentProviderUnavailable("the provider is down")
            return await found(*args, **kwargs)

        return call


@asynccontextmanager
async def _flaky_dunning(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    config: EngineConfig,
    task_queue: str,
    calls: set[str],
    error: type[Exception],
    **policy: Any,
) -> AsyncIterator[tuple[Dunning, Flaky]]:
    simulator = make_simulator(sessions, config)
    assert isinstance(simulator, SimulatedGateway)
    flaky = Flaky(simulator, calls, error)
    async for dunning in _dunning(
        env,
        sessions,
        config,
        task_queue,
        make_policy(config, **policy),
        gateway=cast(PaymentGateway, flaky),
    ):
        yield dunning, flaky


async def _kinds(dunning: Dunning) -> list[str]:
    return [e.kind for e in await ledger(dunning.sessions, dunning.customer_id)]


async def _needs_attention(dunning: Dunning) -> tuple[bool, bool | None]:
    """The read model's flag and the search attribute admins filter on."""
    async with dunning.sessions() as session:
        row = await session.get(Customer, dunning.customer_id)
        assert row is not None
    described = await dunning.started.handle.describe()
    return row.needs_attention, described.typed_search_attributes.get(sa.NEEDS_ATTENTION)


async def test_a_refused_retry_is_retried_flagged_and_dunning_goes_on(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """The provider refuses the first scheduled retry (not the card: the invoice is locked).
    Before: recorded once, the step marked done, and no retry or final action ever came;
    the customer stayed past_due for good."""
    env = time_skipping_env
    async with _flaky_dunning(
        env, sessions, engine_config, task_queue, {"pay_invoice"}, PaymentRequestRejected
    ) as (dunning, flaky):
        await dunning.fail_next_renewal()
        flaky.failing = True
        await env.sleep(days(1) + timedelta(minutes=1))
        await eventually(lambda: _kinds(dunning), lambda k: "automation_failed" in k)
        snapshot = await dunning.started.snapshot()
        [stall] = snapshot.state.stalled.values()
        assert (
            stall.key.startswith("dunning_retry:") and stall.error_type == "PaymentRequestRejected"
        )
        assert await eventually(lambda: _needs_attention(dunning), lambda f: f == (True, True))

        # Still refused at the next attempts (1, then 2 minutes later): one ledger row only.
        await env.sleep(timedelta(minutes=4))
        assert (await _kinds(dunning)).count("automation_failed") == 1
        assert flaky.failures >= 2

        flaky.failing = False
        await env.sleep(timedelta(hours=2))
        kinds = await eventually(lambda: _kinds(dunning), lambda k: "automation_recovered" in k)
        assert kinds[-2:] == ["payment_retry_failed", "automation_recovered"]
        assert await eventually(lambda: _needs_attention(dunning), lambda f: f == (False, False))

        # The schedule goes on to its end: the final action cancels.
        await env.sleep(days(7))
        final = await eventually(dunning.started.snapshot, lambda s: s.state.status == "canceled")
        assert final.state.stalled == {}
    templates = await dunning.templates()
    assert templates.count("payment_failed") == 5
    assert templates[-1] == "subscription_canceled"
    await record_history(dunning.started.handle, "dunning_retry_refused_then_retried")


async def test_a_final_action_that_fails_is_retried(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """The provider refuses the cancellation at the end of dunning. Before: recorded, and
    the customer stayed past_due (with access) forever."""
    env = time_skipping_env
    async with _flaky_dunning(
        env,
        sessions,
        engine_config,
        task_queue,
        {"cancel_subscription"},
        PaymentRequestRejected,
        retries=["1d"],
    ) as (dunning, flaky):
        await dunning.fail_next_renewal()
        flaky.failing = True
        await env.sleep(days(1) + timedelta(minutes=1))
        await eventually(lambda: _kinds(dunning), lambda k: "automation_failed" in k)
        assert (await dunning.started.snapshot()).state.status == "past_due"
        flaky.failing = False
        await env.sleep(timedelta(minutes=5))
        await eventually(dunning.started.snapshot, lambda s: s.state.status == "canceled")
    kinds = await _kinds(dunning)
    assert kinds[-2:] == ["subscription_canceled", "automation_recovered"]
    assert kinds.count("subscription_canceled") == 1
    await record_history(dunning.started.handle, "dunning_final_action_retried")


async def test_commands_answer_during_an_outage_while_a_retry_waits_outside_the_lock(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """The provider is down when a dunning retry falls due. Before: the retry was retried
    without limit while holding the workflow's lock, and every command hung behind it."""
    env = time_skipping_env
    async with _flaky_dunning(
        env, sessions, engine_config, task_queue, {"pay_invoice"}, PaymentProviderUnavailable
    ) as (dunning, flaky):
        await dunning.fail_next_renewal()
        flaky.failing = True
        await env.sleep(days(1) + timedelta(minutes=1))
        # A command that needs no payment goes through once the retry has given up.
        scheduled = await asyncio.wait_for(
            dunning.update(CustomerWorkflow.cancel, CancelSubscription(actor=ACTOR)), timeout=90
        )
        assert scheduled.state.cancel_at_period_end is True
        assert scheduled.state.needs_attention is True
        # One that needs the provider hears 503 at once, not after a retry schedule.
        began = time.monotonic()
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await asyncio.wait_for(
                dunning.update(
                    CustomerWorkflow.update_payment_method,
                    UpdatePaymentMethod(actor=ACTOR, payment_method="pm_card_visa"),
                ),
                timeout=90,
            )
        assert isinstance(failed.value.cause, ApplicationError)
        assert failed.value.cause.type == "PaymentProviderUnavailable"
        assert time.monotonic() - began < 15

        # The provider is back: the stalled retry (new card on file now) recovers.
        flaky.failing = False
        await env.sleep(timedelta(minutes=10))
        await eventually(dunning.started.snapshot, lambda s: s.state.status == "active")
    kinds = await _kinds(dunning)
    assert kinds.count("automation_failed") == 1
    assert kinds[-2:] == ["payment_recovered", "automation_recovered"]
    await record_history(dunning.started.handle, "dunning_outage_while_commands_answer")


class LostCard:
    """The card on file is reported lost after the renewal failed: the issuer answers every
    charge with ``lost_card``, a decline no retry reverses."""

    def __init__(self, inner: SimulatedGateway) -> None:
        self._inner = inner
        self.lost = False
        self.charges = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceInfo:
        if not self.lost:
            return await self._inner.pay_invoice(invoice_id, idempotency_key=idempotency_key)
        self.charges += 1
        raise CardDeclined(
            "Your card was declined.", code="card_declined", decline_code="lost_card"
        )


async def test_a_hard_decline_waits_for_a_new_card_instead_of_charging_again(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """Before: every retry charged the lost card again (card networks count those tries
    against the merchant), since the decline code was never read."""
    policy = make_policy(engine_config)
    simulator = make_simulator(sessions, engine_config)
    assert isinstance(simulator, SimulatedGateway)
    lost = LostCard(simulator)
    async for dunning in _dunning(
        time_skipping_env,
        sessions,
        engine_config,
        task_queue,
        policy,
        gateway=cast(PaymentGateway, lost),
    ):
        await dunning.fail_next_renewal()
        lost.lost = True
        await time_skipping_env.sleep(days(7) + timedelta(hours=1))
        snapshot = await eventually(
            dunning.started.snapshot, lambda s: s.state.status == "canceled"
        )
        assert snapshot.state.dunning is None
        # The first retry learnt the card is lost; the three after it charged nothing.
        assert lost.charges == 1
        rows = await ledger(sessions, dunning.customer_id)
        retries = [r.data for r in rows if r.kind == "payment_retry_failed"]
        assert [r.get("skipped") for r in retries] == [
            None,
            "hard_decline",
            "hard_decline",
            "hard_decline",
        ]
        assert (await dunning.templates()).count("payment_failed") == 5
