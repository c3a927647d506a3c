"""One Stripe timeline delivered in many orders, with duplicates, ends in one state.

Stripe does not order webhook deliveries, retries them for three days and stamps them with
a one-second ``created``. Two timelines: a Checkout conversion, a renewal, a card that then
fails and a failed renewal (dunning); and the same followed by a new card in the Customer
Portal, the invoice paid on the hosted page, an upgrade and a cancellation in the Portal
(flexible billing mode: ``cancel_at``). Each run plays one at the simulator with the events
held back, then delivers them through ``POST /v1/webhooks/stripe`` in one order, and reads
the end state: the customer view, the workflow's state and the invoice mirror. Every order
must end where the order of events as they happened ends.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from db.engine import SessionFactory
from db.models import Invoice
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from tests.factories.histories import record_customer_history
from tests.factories.webhooks import (
    customer_row,
    deliver,
    settled,
    sign_up,
    view_of,
    workflow_state,
)

Json = dict[str, Any]
# Shuffled orders besides the order of occurrence and its reverse; each also repeats some
# events (a redelivery), some of them after everything else.
SHUFFLES = 4


async def _timeline(
    http: httpx.AsyncClient, sessions: SessionFactory, simulator: SimulatedGateway, story: str
) -> tuple[str, list[Json]]:
    """A customer and the events of its timeline at the provider, none delivered yet."""
    customer_id = await sign_up(http)
    provider_customer = await simulator.ensure_customer(
        customer_id=customer_id, email=None, name=None, idempotency_key=f"{customer_id}:cus"
    )
    url = await simulator.create_checkout_session(
        provider_customer_id=provider_customer,
        customer_id=customer_id,
        price=PriceRef("starter", BillingInterval.MONTH),
        success_url="https://app.example.com/billing?checkout=success",
        cancel_url="https://app.example.com/billing?checkout=canceled",
        idempotency_key=f"{customer_id}:checkout",
    )
    events = await simulator.complete_checkout(url.rsplit("/", 1)[-1], "pm_card_visa")
    events += await simulator.advance_to_period_end(provider_customer)  # renewed

    async def portal() -> str:
        # A session lasts a day of the customer's clock: a new one for each visit.
        url = await simulator.create_portal_session(
            provider_customer_id=provider_customer, return_url="https://app.example.com/"
        )
        return url.rsplit("/", 1)[-1]

    events += await simulator.portal_update_card(await portal(), "pm_card_chargeCustomerFail")
    renewal = await simulator.advance_to_period_end(provider_customer)  # fails
    events += renewal
    failed = [e for e in renewal if e["type"] == "invoice.payment_failed"]
    assert failed, [e["type"] for e in renewal]
    if story == "portal_changes":
        # The customer replaces the card in the Portal and pays on the hosted invoice page,
        # then upgrades and schedules a cancellation there.
        events += await simulator.portal_update_card(await portal(), "pm_card_visa")
        events += await simulator.pay_invoice_on_hosted_page(failed[0]["data"]["object"]["id"])
        events += await simulator.portal_change_plan(
            await portal(), PriceRef("pro", BillingInterval.MONTH)
        )
        events += await simulator.portal_cancel(await portal())
    # Stripe's clock ticks while it emits: each event a second after the one before (so
    # ``invoice.payment_failed`` is older than the ``customer.subscription.updated`` that
    # says past_due), in the order they were emitted.
    start = int(events[0]["created"])
    for n, event in enumerate(events):
        event["created"] = start + n
    return customer_id, events


ORDER_NAMES = ["as it happened", "reversed"] + [
    f"shuffle {n + 1} with duplicates" for n in range(SHUFFLES)
]


def _orders(events: list[Json], seed: int) -> list[tuple[str, list[Json]]]:
    rng = random.Random(seed)
    orders = [("as it happened", list(events)), ("reversed", list(reversed(events)))]
    for n in range(SHUFFLES):
        shuffled = list(events)
        rng.shuffle(shuffled)
        for event in rng.sample(events, k=max(1, len(events) // 3)):
            shuffled.insert(rng.randrange(len(shuffled) + 1), event)
        shuffled.append(rng.choice(events))
        orders.append((f"shuffle {n + 1} with duplicates", shuffled))
    return orders


async def _end_state(
    http: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, customer_id: str
) -> Json:
    state = await workflow_state(env, customer_id)
    view = await view_of(http, customer_id)
    row = await customer_row(sessions, customer_id)
    async with sessions() as session:
        invoices = (
            await session.scalars(
                select(Invoice).where(Invoice.customer_id == customer_id).order_by(Invoice.number)
            )
        ).all()
    return {
        "status": state.status.value,
        "plan": (state.plan, state.interval.value if state.interval else None),
        "mrr_cents": state.mrr_cents,
        "cancel_at_period_end": state.cancel_at_period_end,
        "scheduled_change": state.scheduled_change,
        "dunning": state.dunning,
        "pending": state.pending_subscription_id,
        "period_end": state.current_period_end,
        "card": (state.payment_method_id, row.payment_method_last4),
        "view": {k: view[k] for k in ("status", "plan", "interval", "cancel_at_period_end")},
        "invoices": [(i.number, i.status, i.amount_paid_cents) for i in invoices],
    }


@pytest.mark.parametrize("story", ["dunning", "portal_changes"])
async def test_any_order_and_repetition_of_a_timeline_ends_in_one_state(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    simulator: SimulatedGateway,
    dev_server_env: WorkflowEnvironment,
    story: str,
) -> None:
    ends: dict[str, Json] = {}
    types: list[str] = []
    for name in ORDER_NAMES:  # each order gets a timeline of its own
        customer_id, events = await _timeline(http, sessions, simulator, story)
        types = [e["type"] for e in events]
        order = dict(_orders(events, seed=len(ends)))[name]
        for event in order:
            response = await deliver(http, event)
            assert response.status_code == 200, (name, event["type"], response.text)
        await settled(dev_server_env, customer_id)
        end = await _end_state(http, dev_server_env, sessions, customer_id)
        if name == "reversed":
            await record_customer_history(
                dev_server_env.client, customer_id, f"provider_events_any_order_{story}"
            )
        # Ids differ from run to run; the period and card do too (each run's own clock and
        # card): compare what they say.
        end["period_end"] = end["period_end"] is not None
        end["card"] = end["card"][1]
        ends[name] = end

    expected = ends["as it happened"]
    assert expected["pending"] is None, (expected, types)
    if story == "dunning":
        assert expected["status"] == "past_due", (expected, types)
        assert expected["plan"] == ("starter", "month")
        assert expected["dunning"] is not None and expected["dunning"].attempts == 1
        assert [status for _, status, _ in expected["invoices"]] == ["paid", "paid", "open"]
        # Dunning's timing comes from the workflow's clock; which invoice it retries from
        # the provider.
        for end in ends.values():
            end["dunning"] = end["dunning"] and end["dunning"].invoice_id[:3]
    else:
        assert expected["status"] == "active", (expected, types)
        assert expected["plan"] == ("pro", "month")
        assert expected["cancel_at_period_end"] is True
        assert expected["dunning"] is None
        assert [status for _, status, _ in expected["invoices"]].count("paid") >= 3
    for name, end in ends.items():
        assert end == expected, (name, types)
