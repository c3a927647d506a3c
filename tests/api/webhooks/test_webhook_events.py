"""Each Stripe event and field the engine used to miss, end to end: the simulator plays what
Stripe does (its events validate against Stripe's spec, ``tests/contract``), the events go
through ``POST /v1/webhooks/stripe``, and the customer's view, ledger, emails and
notifications show the effect.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from db.engine import SessionFactory
from db.models import Invoice, Notification
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from tests.factories.checkout import trial_at_checkout
from tests.factories.histories import record_customer_history
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.settings import auth
from tests.factories.webhooks import (
    WAIT,
    convert,
    customer_row,
    deliver_all,
    ledger_of,
    provider_ids,
    sign_up,
    view_of,
    workflow_state,
)

Json = dict[str, Any]


def _kinds(rows: list[Json]) -> list[str]:
    return [row["kind"] for row in rows]


async def _portal(simulator: SimulatedGateway, provider_customer: str) -> str:
    url = await simulator.create_portal_session(
        provider_customer_id=provider_customer, return_url="https://app.example.com/"
    )
    return url.rsplit("/", 1)[-1]


async def _checkout(
    http: httpx.AsyncClient,
    simulator: SimulatedGateway,
    payment_method: str = "pm_card_visa",
) -> tuple[str, str, list[Json]]:
    """A trial and a completed Checkout at the provider (events not delivered yet)."""
    customer_id = await sign_up(http)
    response = await http.post(
        f"/v1/customers/{customer_id}/checkout-session",
        json={"plan": "starter", "interval": "month", "return_url": "https://app.example.com/"},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    session_id = url.rsplit("/", 1)[-1]
    events = await simulator.complete_checkout(session_id, payment_method)
    return customer_id, session_id, events


async def provider_customer_of(sessions: SessionFactory, customer_id: str) -> str:
    provider_customer, _ = await provider_ids(sessions, customer_id)
    return provider_customer


async def _converted(
    http: httpx.AsyncClient, sessions: SessionFactory, env: WorkflowEnvironment
) -> tuple[str, str, str]:
    customer_id = await sign_up(http)
    await convert(http, customer_id)
    provider_customer, subscription_id = await provider_ids(sessions, customer_id)
    return customer_id, provider_customer, subscription_id


# -- the card -----------------------------------------------------------------------------------


async def test_a_checkout_card_is_the_one_shown_and_replaced(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """Checkout saves the card on the subscription, not as the customer's default. Before:
    the mirror read only the customer's default and showed no card, a message pack asked
    for a card, and a new card set through the API stayed behind the subscription's own
    (dunning kept charging the old one)."""
    customer_id, _, events = await _checkout(http, simulator, "pm_card_mastercard")
    await deliver_all(http, dev_server_env, customer_id, events)
    row = await customer_row(sessions, customer_id)
    assert (row.status, row.payment_method_brand, row.payment_method_last4) == (
        "active",
        "mastercard",
        "4444",
    )
    # A message pack is a one-off invoice of the customer's, who has no default card of
    # its own: it is charged to the card the subscription pays with.
    response = await http.post(
        f"/v1/customers/{customer_id}/addons",
        json={"addon": "message_pack", "quantity": 1},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    _, subscription_id = await provider_ids(sessions, customer_id)
    response = await http.put(
        f"/v1/customers/{customer_id}/payment-method",
        json={"payment_method": "pm_card_visa"},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    row = await customer_row(sessions, customer_id)
    assert row.payment_method_last4 == "4242"
    provider_customer, _ = await provider_ids(sessions, customer_id)
    card = await simulator.default_payment_method(
        provider_customer, subscription_id=subscription_id
    )
    assert card is not None and card.last4 == "4242"


async def test_a_detached_or_network_updated_card_is_mirrored(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id, _, _ = await _converted(http, sessions, dev_server_env)
    row = await customer_row(sessions, customer_id)
    assert row.payment_method_id is not None and row.payment_method_exp_year is not None
    events = await simulator.auto_update_payment_method(
        row.payment_method_id, exp_month=9, exp_year=2031, last4="1111"
    )
    assert [e["type"] for e in events] == ["payment_method.automatically_updated"]
    await deliver_all(http, dev_server_env, customer_id, events)
    row = await customer_row(sessions, customer_id)
    assert (row.payment_method_exp_month, row.payment_method_exp_year) == (9, 2031)
    assert row.payment_method_last4 == "1111" and row.payment_method_id is not None

    events = await simulator.detach_payment_method(row.payment_method_id)
    await deliver_all(http, dev_server_env, customer_id, events)
    row = await customer_row(sessions, customer_id)
    assert row.payment_method_id is None and row.payment_method_last4 is None


# -- the subscription ---------------------------------------------------------------------------


async def test_portal_cancellation_downgrade_and_upgrade_are_seen(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """Flexible billing mode: the Portal schedules a cancellation with ``cancel_at`` and
    leaves ``cancel_at_period_end`` false; a downgrade is a subscription schedule. Before:
    both invisible until the period ended."""
    customer_id, provider_customer, _ = await _converted(http, sessions, dev_server_env)
    events = await simulator.portal_change_plan(
        await _portal(simulator, provider_customer), PriceRef("pro", BillingInterval.MONTH)
    )
    await deliver_all(http, dev_server_env, customer_id, events)
    assert (await view_of(http, customer_id))["plan"] == "pro"

    events = await simulator.portal_change_plan(
        await _portal(simulator, provider_customer), PriceRef("starter", BillingInterval.MONTH)
    )
    assert any(e["type"].startswith("subscription_schedule.") for e in events), events
    await deliver_all(http, dev_server_env, customer_id, events)
    view = await view_of(http, customer_id)
    assert view["plan"] == "pro"
    assert view["scheduled_change"]["plan"] == "starter"

    events = await simulator.portal_cancel(await _portal(simulator, provider_customer))
    cancel = [e for e in events if e["type"] == "customer.subscription.updated"][-1]
    assert cancel["data"]["object"]["cancel_at"] is not None
    assert cancel["data"]["object"]["cancel_at_period_end"] is False
    await deliver_all(http, dev_server_env, customer_id, events)
    view = await view_of(http, customer_id)
    assert view["cancel_at_period_end"] is True
    kinds = _kinds(await ledger_of(http, customer_id))
    assert "plan_change_scheduled" in kinds and "cancellation_scheduled" in kinds
    await record_customer_history(
        dev_server_env.client, customer_id, "provider_events_portal_changes"
    )


async def test_a_real_pause_and_resume(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """``customer.subscription.paused`` carries ``status: paused`` and no
    ``pause_collection``. Before: ignored, and MRR still counted."""
    customer_id, _, subscription_id = await _converted(http, sessions, dev_server_env)
    await deliver_all(
        http, dev_server_env, customer_id, await simulator.pause_by_status(subscription_id)
    )
    state = await workflow_state(dev_server_env, customer_id)
    assert (state.status.value, state.mrr_cents) == ("paused", 0)
    await deliver_all(
        http, dev_server_env, customer_id, await simulator.resume_from_pause(subscription_id)
    )
    state = await workflow_state(dev_server_env, customer_id)
    assert state.status.value == "active" and state.mrr_cents > 0
    await record_customer_history(dev_server_env.client, customer_id, "provider_events_real_pause")


async def test_stripe_ending_a_subscription_for_failed_payment_is_involuntary_churn(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id, _, subscription_id = await _converted(http, sessions, dev_server_env)
    events = await simulator.cancel_involuntarily(subscription_id, reason="payment_failed")
    await deliver_all(http, dev_server_env, customer_id, events)
    canceled = [
        r for r in await ledger_of(http, customer_id) if r["kind"] == "subscription_canceled"
    ]
    assert len(canceled) == 1
    assert canceled[0]["data"]["reason"] == "payment_failed"
    assert canceled[0]["data"]["voluntary"] is False
    await record_customer_history(
        dev_server_env.client, customer_id, "provider_events_involuntary_cancellation"
    )


# -- invoices -----------------------------------------------------------------------------------


async def _failed_renewal(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    env: WorkflowEnvironment,
    card: str = "pm_card_chargeCustomerFail",
) -> tuple[str, str, list[Json]]:
    customer_id, provider_customer, subscription_id = await _converted(http, sessions, env)
    await simulator.attach_payment_method(
        provider_customer,
        card,
        idempotency_key=f"{customer_id}:failing",
        subscription_id=subscription_id,
    )
    events = await simulator.advance_to_period_end(provider_customer)
    return customer_id, provider_customer, events


@pytest.mark.parametrize("closed_as", ["void", "uncollectible"])
async def test_dunning_keeps_the_decline_code_and_ends_when_the_invoice_is_closed(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
    closed_as: str,
) -> None:
    """The decline code sits on the invoice's PaymentIntent (``invoice.payments``). Before:
    read from ``invoice.last_payment_error``, which does not exist, so always null. And an
    invoice voided or written off in the Dashboard ended nothing: dunning kept paying a
    closed invoice."""
    customer_id, _, events = await _failed_renewal(http, sessions, simulator, dev_server_env)
    await deliver_all(http, dev_server_env, customer_id, events)
    failed = [r for r in await ledger_of(http, customer_id) if r["kind"] == "payment_failed"]
    assert len(failed) == 1 and failed[0]["data"]["decline_code"], failed
    state = await workflow_state(dev_server_env, customer_id)
    assert state.dunning is not None

    invoice_id = state.dunning.invoice_id
    if closed_as == "void":
        closed = await simulator.void_invoice(invoice_id)
    else:
        # Written off in the Dashboard: the simulator emits what Stripe does.
        await simulator.mark_invoice_uncollectible(invoice_id, idempotency_key=f"off:{invoice_id}")
        closed = [
            e
            for e in await simulator.events(await provider_customer_of(sessions, customer_id))
            if e["type"] == "invoice.marked_uncollectible"
        ]
    assert closed, closed_as
    await deliver_all(http, dev_server_env, customer_id, closed)
    state = await workflow_state(dev_server_env, customer_id)
    assert (state.status.value, state.dunning) == ("active", None)
    rows = await ledger_of(http, customer_id)
    ended = [r for r in rows if r["kind"] == "dunning_ended"]
    assert [r["data"]["invoice_status"] for r in ended] == [closed_as]
    assert "payment_recovered" not in _kinds(rows)
    await record_customer_history(
        dev_server_env.client, customer_id, f"provider_events_dunning_invoice_{closed_as}"
    )


async def test_a_renewal_waiting_for_3d_secure_tells_the_customer_where_to_confirm(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    customer_id, _, events = await _failed_renewal(
        http, sessions, simulator, dev_server_env, card="pm_card_authenticationRequired"
    )
    action = [e for e in events if e["type"] == "invoice.payment_action_required"]
    assert action, [e["type"] for e in events]
    hosted = action[0]["data"]["object"]["hosted_invoice_url"]
    await deliver_all(http, dev_server_env, customer_id, events)
    rows = await eventually(
        lambda: outbox(sessions, customer_id),
        lambda found: any(e.template == "payment_action_required" for e in found),
        timeout=WAIT,
    )
    emails = [e for e in rows if e.template == "payment_action_required"]
    assert len(emails) == 1 and hosted in (emails[0].body or "")
    async with sessions() as session:
        notices = (
            await session.scalars(
                select(Notification).where(
                    Notification.customer_id == customer_id,
                    Notification.kind == "payment_action_required",
                )
            )
        ).all()
    assert [n.cta_url for n in notices] == [hosted]
    await record_customer_history(
        dev_server_env.client, customer_id, "provider_events_action_required"
    )
    # Dunning goes on meanwhile: past due, the decline is soft (the same card passes once
    # the customer confirms), so the retries stay on the schedule.
    state = await workflow_state(dev_server_env, customer_id)
    assert state.status.value == "past_due" and state.dunning is not None
    assert not state.dunning.hard_decline and state.dunning.next_retry_at is not None
    failed = [r for r in await ledger_of(http, customer_id) if r["kind"] == "payment_failed"]
    assert [r["data"]["decline_code"] for r in failed] == ["authentication_required"]
    # The customer confirms on the hosted invoice page: the renewal is paid, dunning ends.
    invoice_id = state.dunning.invoice_id
    assert invoice_id in hosted
    confirmed = await simulator.pay_invoice_on_hosted_page(invoice_id)
    assert "invoice.paid" in [e["type"] for e in confirmed]
    await deliver_all(http, dev_server_env, customer_id, confirmed)
    state = await workflow_state(dev_server_env, customer_id)
    assert state.status.value == "active" and state.dunning is None
    assert "payment_recovered" in _kinds(await ledger_of(http, customer_id))


async def test_an_upcoming_invoice_is_not_mirrored_and_refunds_and_disputes_find_their_invoice(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """``invoice.upcoming`` is a preview (``upcoming_in_...``); a Charge no longer names its
    invoice, so refunds and disputes find it through the PaymentIntent."""
    customer_id, _, subscription_id = await _converted(http, sessions, dev_server_env)
    async with sessions() as session:
        before = (
            await session.scalars(select(Invoice.id).where(Invoice.customer_id == customer_id))
        ).all()
    assert len(before) == 1
    upcoming = await simulator.emit_upcoming_invoice(subscription_id)
    refund = await simulator.refund_invoice(before[0], amount_cents=500)
    dispute = await simulator.dispute_invoice(before[0])
    await deliver_all(http, dev_server_env, customer_id, upcoming + refund + dispute)
    async with sessions() as session:
        after = (
            await session.scalars(select(Invoice.id).where(Invoice.customer_id == customer_id))
        ).all()
    assert after == before
    rows = await ledger(sessions, customer_id, audit=True)
    refunded = [r.data for r in rows if r.kind == "charge_refunded"]
    disputed = [r.data for r in rows if r.kind == "payment_disputed"]
    # Before: the invoice was read from ``charge.invoice``, which Charges no longer carry.
    assert [(d["invoice_id"], d["amount_refunded_cents"]) for d in refunded] == [(before[0], 500)]
    assert [d["invoice_id"] for d in disputed] == [before[0]]


# -- Checkout paid later ------------------------------------------------------------------------


@pytest.mark.parametrize("succeeded", [True, False])
async def test_a_checkout_paid_by_bank_debit_converts_when_it_settles_or_is_forgotten(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    dev_server_env: WorkflowEnvironment,
    succeeded: bool,
) -> None:
    """A German customer paying in EUR through the API and the simulator's pages: SEPA
    Direct Debit is offered, the session completes unpaid, the customer hears the payment
    is under way, and the debit is collected (the trial converts) or returned (an email,
    and the customer is back in the trial)."""
    checkout = await trial_at_checkout(http, country="DE", currency="eur", email_prefix="sepa")
    customer_id = checkout.customer_id
    offered = await checkout.offered(http)
    assert {"pm_sepaDebit", "pm_card_visa"} <= offered and "pm_boleto" not in offered
    assert await checkout.completed(http, "pm_sepaDebit") == ["checkout.session.completed"]
    state = await eventually(
        lambda: workflow_state(dev_server_env, customer_id),
        lambda s: s.pending_subscription_id is not None,
        timeout=WAIT,
    )
    assert state.status.value == "trialing"
    processing = await eventually(
        lambda: outbox(sessions, customer_id),
        lambda rows: any(r.template == "checkout_payment_processing" for r in rows),
        timeout=WAIT,
    )
    assert [r.template for r in processing].count("checkout_payment_processing") == 1

    settled = await checkout.settle(http, succeeded=succeeded)
    expected = (
        "checkout.session.async_payment_succeeded"
        if succeeded
        else "checkout.session.async_payment_failed"
    )
    assert expected in settled
    state = await eventually(
        lambda: workflow_state(dev_server_env, customer_id),
        lambda s: s.pending_subscription_id is None,
        timeout=WAIT,
    )
    kinds = _kinds(await ledger_of(http, customer_id))
    assert kinds.count("checkout_payment_processing") == 1
    if succeeded:
        assert state.status.value == "active"
        view = await view_of(http, customer_id)
        assert view["status"] == "active"
    else:
        assert state.status.value == "trialing"
        assert "checkout_payment_failed" in kinds
        # The email follows the transition (its own activity): wait for it, not for luck.
        await eventually(
            lambda: outbox(sessions, customer_id),
            lambda rows: "checkout_payment_failed" in [r.template for r in rows],
            timeout=WAIT,
        )
    outcome = "settled" if succeeded else "failed"
    await record_customer_history(
        dev_server_env.client, customer_id, f"checkout_sepa_debit_{outcome}"
    )
