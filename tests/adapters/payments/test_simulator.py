"""The embedded payment simulator against real PostgreSQL (and once against SQLite).

Every test freezes the simulator's clock so amounts and periods are exact; every event the
simulator renders is parsed with the webhook endpoint's ``parse_event``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.payments.base import (
    CardDeclined,
    PaymentGateway,
    PaymentMethodRequired,
    PaymentRequestRejected,
)
from adapters.payments.simulator import SIM_CARDS, SimulatedGateway
from adapters.payments.simulator.models import SimCharge, SimCustomer, SimInvoice, SimSubscription
from adapters.payments.stripe_objects import parse_event
from core.config import EngineConfig
from db.engine import SessionFactory, create_engine, session_factory
from db.migrate import migrate
from domain.lifecycle import BillingInterval
from domain.payments import PaymentEvent, PriceRef, addon_lookup_key
from tests.factories.customers import insert_customer
from tests.factories.policies import make_policy

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR
STARTER_MONTH = PriceRef("starter", MONTH)
STARTER_YEAR = PriceRef("starter", YEAR)
PRO_MONTH = PriceRef("pro", MONTH)
PRO_YEAR = PriceRef("pro", YEAR)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXTRA_CHATBOT = addon_lookup_key("extra_chatbot", MONTH)
EXTRA_CHATBOT_YEAR = addon_lookup_key("extra_chatbot", YEAR)
MESSAGE_PACK = addon_lookup_key("message_pack")


class FrozenClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def sim(
    sessions: SessionFactory, engine_config: EngineConfig, clock: FrozenClock
) -> SimulatedGateway:
    return SimulatedGateway(
        sessions, engine_config.catalog, base_url="http://sim.test", clock=clock
    )


async def new_customer(
    sim: SimulatedGateway, sessions: SessionFactory, config: EngineConfig
) -> tuple[str, str]:
    """An engine customer and its simulated Stripe customer: (engine id, provider id)."""
    customer = await insert_customer(sessions, policy=make_policy(config))
    provider_id = await sim.ensure_customer(
        customer_id=customer.id,
        email=customer.email,
        name=customer.name,
        idempotency_key=f"customer:{customer.id}",
    )
    return customer.id, provider_id


async def subscribed(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    config: EngineConfig,
    price: PriceRef = STARTER_MONTH,
    card: str = "pm_card_visa",
) -> tuple[str, str, str]:
    """(engine id, provider customer id, subscription id) of a fresh paying customer."""
    engine_id, provider_id = await new_customer(sim, sessions, config)
    await sim.attach_payment_method(provider_id, card, idempotency_key=f"pm:{provider_id}")
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=price,
        idempotency_key=f"sub:{provider_id}",
    )
    return engine_id, provider_id, sub.id


async def charges(sessions: SessionFactory, provider_id: str) -> list[SimCharge]:
    async with sessions() as session:
        rows = await session.execute(
            select(SimCharge)
            .where(SimCharge.customer_id == provider_id)
            .order_by(SimCharge.created_at)
        )
        return list(rows.scalars())


async def count(sessions: SessionFactory, model: Any, provider_id: str) -> int:
    async with sessions() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).select_from(model).where(model.customer_id == provider_id)
                )
            ).scalar_one()
        )


def parsed(events: list[dict[str, Any]]) -> list[PaymentEvent]:
    return [parse_event(event) for event in events]


# -- the protocol -------------------------------------------------------------------------


def test_the_simulator_is_a_payment_gateway(sim: SimulatedGateway) -> None:
    gateway: PaymentGateway = sim
    assert gateway.name == "simulator"


# -- test cards ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "brand", "last4"),
    [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_amex", "amex", "8431"),
        ("pm_card_chargeCustomerFail", "visa", "0341"),
    ],
)
async def test_cards_that_attach(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    card: str,
    brand: str,
    last4: str,
) -> None:
    _, provider_id = await new_customer(sim, sessions, engine_config)
    pm = await sim.attach_payment_method(provider_id, card, idempotency_key=f"a:{provider_id}")
    assert pm.id.startswith("pm_sim_")
    assert (pm.brand, pm.last4, pm.exp_month) == (brand, last4, 12)
    # Attaching again by its new id is fine and keeps it the default.
    again = await sim.attach_payment_method(provider_id, pm.id, idempotency_key=f"b:{provider_id}")
    assert again.id == pm.id


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
    ],
)
async def test_declining_cards_are_refused_on_attach_and_charge(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    card: str,
    code: str,
    decline_code: str,
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    with pytest.raises(CardDeclined) as declined:
        await sim.attach_payment_method(provider_id, card, idempotency_key=f"a:{provider_id}")
    assert (declined.value.code, declined.value.decline_code) == (code, decline_code)
    # Nothing was attached: subscribing still has no payment method.
    with pytest.raises(PaymentMethodRequired):
        await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_MONTH,
            idempotency_key=f"s:{provider_id}",
        )
    # The same card would decline any charge too (with the same codes).
    charge = SIM_CARDS[card].declines_on_charge
    assert charge is not None and (charge.code, charge.decline_code) == (code, decline_code)
    # Checkout with it fails the same way and leaves the session open.
    url = await sim.create_checkout_session(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=STARTER_MONTH,
        success_url="https://app.test/ok",
        cancel_url="https://app.test/cancel",
        idempotency_key=f"cs:{provider_id}",
    )
    session_id = url.rsplit("/", 1)[1]
    with pytest.raises(CardDeclined) as at_checkout:
        await sim.complete_checkout(session_id, card)
    assert at_checkout.value.decline_code == decline_code
    assert (await sim.get_checkout_session(session_id))["status"] == "open"
    assert await count(sessions, SimSubscription, provider_id) == 0


async def test_charge_customer_fail_attaches_but_declines_the_charge(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"a:{provider_id}"
    )
    with pytest.raises(CardDeclined) as declined:
        await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_MONTH,
            idempotency_key=f"s:{provider_id}",
        )
    assert (declined.value.code, declined.value.decline_code) == (
        "card_declined",
        "generic_decline",
    )
    # Nothing is left behind: no subscription, no invoice.
    assert await count(sessions, SimSubscription, provider_id) == 0
    assert await sim.list_invoices(provider_id) == []
    # The decline is remembered under its key, like Stripe: the same key declines again.
    with pytest.raises(CardDeclined):
        await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_MONTH,
            idempotency_key=f"s:{provider_id}",
        )


async def test_unknown_ids_are_rejected(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    _, provider_id = await new_customer(sim, sessions, engine_config)
    with pytest.raises(PaymentRequestRejected) as unknown_pm:
        await sim.attach_payment_method(provider_id, "pm_card_bogus", idempotency_key="x1")
    assert unknown_pm.value.code == "resource_missing"
    with pytest.raises(PaymentRequestRejected) as unknown_customer:
        await sim.attach_payment_method("cus_nope", "pm_card_visa", idempotency_key="x2")
    assert unknown_customer.value.code == "resource_missing"
    with pytest.raises(PaymentRequestRejected) as unknown_sub:
        await sim.get_subscription("sub_nope")
    assert unknown_sub.value.code == "resource_missing"
    with pytest.raises(PaymentRequestRejected) as sales_led:
        await sim.preview_change(
            provider_customer_id=provider_id,
            subscription_id=None,
            price=PriceRef("enterprise", MONTH),
            proration="always_invoice",
        )
    assert sales_led.value.code == "resource_missing"


# -- subscribing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "amount", "period_end"),
    [
        (STARTER_MONTH, 2900, datetime(2026, 2, 1, tzinfo=UTC)),
        (STARTER_YEAR, 29580, datetime(2027, 1, 1, tzinfo=UTC)),
        (PRO_MONTH, 9900, datetime(2026, 2, 1, tzinfo=UTC)),
        (PRO_YEAR, 100980, datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
async def test_subscribe_charges_exactly_the_catalog_price(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    price: PriceRef,
    amount: int,
    period_end: datetime,
) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim, sessions, engine_config, price)
    sub = await sim.get_subscription(sub_id)
    assert sub.status == "active"
    assert sub.price == price
    assert sub.customer == provider_id
    assert sub.engine_customer_id == engine_id
    assert (sub.current_period_start, sub.current_period_end) == (T0, period_end)
    assert not sub.cancel_at_period_end and not sub.paused and sub.scheduled_price is None
    invoice = sub.latest_invoice
    assert invoice is not None
    assert invoice.status == "paid"
    assert invoice.billing_reason == "subscription_create"
    assert invoice.subscription == sub_id
    assert invoice.number == "SIM-0001"
    assert (invoice.subtotal_cents, invoice.total_cents) == (amount, amount)
    assert (invoice.amount_due_cents, invoice.amount_paid_cents) == (amount, amount)
    assert invoice.amount_remaining_cents == 0
    assert invoice.paid_at == T0
    assert invoice.hosted_invoice_url == f"http://sim.test/v1/simulator/invoices/{invoice.id}"
    assert invoice.invoice_pdf and invoice.invoice_pdf.startswith("http://sim.test/")
    (line,) = invoice.lines
    assert (line.amount_cents, line.proration, line.price_lookup_key) == (
        amount,
        False,
        price.lookup_key,
    )
    assert (line.period_start, line.period_end) == (T0, period_end)
    assert [(c.amount_cents, c.status) for c in await charges(sessions, provider_id)] == [
        (amount, "succeeded")
    ]
    assert [i.id for i in await sim.list_invoices(provider_id)] == [invoice.id]


async def test_subscribing_without_a_card_needs_a_payment_method(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    with pytest.raises(PaymentMethodRequired):
        await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_MONTH,
            idempotency_key=f"s:{provider_id}",
        )
    # Not remembered: after attaching a card the same key goes through.
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"a:{provider_id}")
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=STARTER_MONTH,
        idempotency_key=f"s:{provider_id}",
    )
    assert sub.status == "active"


async def test_percent_off_coupon_applies_to_the_first_invoice_only(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"a:{provider_id}")
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=STARTER_MONTH,
        idempotency_key=f"s:{provider_id}",
        coupon="WINBACK20",
    )
    first = sub.latest_invoice
    assert first is not None
    # 20% of 2900 = 580 off
    assert (first.subtotal_cents, first.total_cents, first.amount_paid_cents) == (2900, 2320, 2320)
    events = parsed(await sim.advance_to_period_end(provider_id))
    assert events[0].invoice is not None and events[0].invoice.amount_paid_cents == 2900
    with pytest.raises(PaymentRequestRejected):
        await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_MONTH,
            idempotency_key=f"s2:{provider_id}",
            coupon="NOPE",
        )


# -- changing the plan --------------------------------------------------------------------


async def test_upgrade_mid_period_is_prorated_by_the_second(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    clock.now = datetime(2026, 1, 16, 12, 34, 56, tzinfo=UTC)
    preview = await sim.preview_change(
        provider_customer_id=provider_id,
        subscription_id=sub_id,
        price=PRO_MONTH,
        proration="always_invoice",
    )
    sub = await sim.change_price(
        sub_id, PRO_MONTH, proration="always_invoice", idempotency_key=f"up:{sub_id}"
    )
    # January: 2,678,400 s; 1,337,104 s remain. 2900 * 1337104 / 2678400 = 1447.73 -> 1448;
    # 9900 * 1337104 / 2678400 = 4942.25 -> 4942.
    assert sub.price == PRO_MONTH
    assert (sub.current_period_start, sub.current_period_end) == (
        T0,
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    invoice = sub.latest_invoice
    assert invoice is not None
    assert invoice.billing_reason == "subscription_update"
    assert invoice.status == "paid"
    assert [
        (line.amount_cents, line.proration, line.price_lookup_key) for line in invoice.lines
    ] == [
        (-1448, True, "plan_starter_month"),
        (4942, True, "plan_pro_month"),
    ]
    assert [line.description for line in invoice.lines] == [
        "Unused time on Starter after 16 Jan 2026",
        "Remaining time on Pro after 16 Jan 2026",
    ]
    assert (invoice.total_cents, invoice.amount_paid_cents) == (3494, 3494)
    assert invoice.number == "SIM-0002"
    # The preview said exactly this, and the next invoice is Pro on Feb 1.
    assert preview.amount_due_now_cents == 3494
    assert [line.amount_cents for line in preview.lines] == [-1448, 4942]
    assert preview.next_invoice_amount_cents == 9900
    assert preview.next_invoice_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert [c.amount_cents for c in await charges(sessions, provider_id)] == [2900, 3494]


async def test_decline_on_upgrade_leaves_everything_unchanged(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    before = await sim.get_subscription(sub_id)
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"fail:{provider_id}"
    )
    clock.now = datetime(2026, 1, 10, tzinfo=UTC)
    with pytest.raises(CardDeclined) as declined:
        await sim.change_price(
            sub_id, PRO_MONTH, proration="always_invoice", idempotency_key=f"up:{sub_id}"
        )
    assert declined.value.decline_code == "generic_decline"
    assert await sim.get_subscription(sub_id) == before
    assert len(await sim.list_invoices(provider_id)) == 1
    assert [c.amount_cents for c in await charges(sessions, provider_id)] == [2900]


async def test_change_without_proration_swaps_the_price_only(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config, PRO_MONTH)
    clock.now = datetime(2026, 1, 20, tzinfo=UTC)
    sub = await sim.change_price(sub_id, STARTER_MONTH, proration="none", idempotency_key="n1")
    assert sub.price == STARTER_MONTH
    assert sub.current_period_end == datetime(2026, 2, 1, tzinfo=UTC)
    assert len(await sim.list_invoices(provider_id)) == 1


async def test_interval_change_resets_the_billing_cycle(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, _, sub_id = await subscribed(sim, sessions, engine_config)
    clock.now = datetime(2026, 1, 16, tzinfo=UTC)
    sub = await sim.change_price(
        sub_id, STARTER_YEAR, proration="always_invoice", idempotency_key=f"y:{sub_id}"
    )
    assert sub.price == STARTER_YEAR
    assert (sub.current_period_start, sub.current_period_end) == (
        datetime(2026, 1, 16, tzinfo=UTC),
        datetime(2027, 1, 16, tzinfo=UTC),
    )
    invoice = sub.latest_invoice
    assert invoice is not None
    # 16 of 31 days unused: 2900 * 16/31 = 1496.77 -> 1497 credited; 29580 charged.
    assert [(line.amount_cents, line.proration) for line in invoice.lines] == [
        (-1497, True),
        (29580, False),
    ]
    assert invoice.amount_paid_cents == 28083


async def test_downgrade_credit_is_applied_to_the_next_invoice(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config, PRO_MONTH)
    # Exactly half of January is left at Jan 16 12:00 (15.5 of 31 days).
    clock.now = datetime(2026, 1, 16, 12, tzinfo=UTC)
    sub = await sim.change_price(
        sub_id, STARTER_MONTH, proration="always_invoice", idempotency_key=f"d:{sub_id}"
    )
    invoice = sub.latest_invoice
    assert invoice is not None
    # -4950 + 1450 = -3500: nothing due, 3500 of credit.
    assert (invoice.total_cents, invoice.amount_due_cents, invoice.status) == (-3500, 0, "paid")
    events = parsed(await sim.advance_to_period_end(provider_id))
    renewal = events[0].invoice
    assert renewal is not None
    assert (renewal.total_cents, renewal.amount_due_cents, renewal.amount_paid_cents) == (
        2900,
        0,
        0,
    )
    events = parsed(await sim.advance_to_period_end(provider_id))
    assert events[0].invoice is not None and events[0].invoice.amount_paid_cents == 2300


# -- add-ons ------------------------------------------------------------------------------


def items_of(sub: Any) -> list[tuple[str | None, int]]:
    return [(item.price_lookup_key, item.quantity) for item in sub.items]


async def test_add_on_mid_period_is_prorated_and_listed(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    clock.now = datetime(2026, 1, 16, 12, 34, 56, tzinfo=UTC)
    sub = await sim.add_subscription_item(
        sub_id, EXTRA_CHATBOT, 1, idempotency_key=f"addon:{sub_id}:1"
    )
    assert sub.price == STARTER_MONTH
    assert items_of(sub) == [("plan_starter_month", 1), (EXTRA_CHATBOT, 1)]
    assert all(item.id.startswith("si_sim_") for item in sub.items)
    # January: 2,678,400 s; 1,337,104 s remain. 500 * 1337104 / 2678400 = 249.61 -> 250.
    invoice = sub.latest_invoice
    assert invoice is not None
    assert (invoice.billing_reason, invoice.status, invoice.subscription) == (
        "subscription_update",
        "paid",
        sub_id,
    )
    assert invoice.number == "SIM-0002"
    assert [
        (line.amount_cents, line.proration, line.price_lookup_key, line.quantity)
        for line in invoice.lines
    ] == [(250, True, EXTRA_CHATBOT, 1)]
    assert invoice.lines[0].description == "Remaining time on Extra chatbot after 16 Jan 2026"
    assert (invoice.lines[0].period_start, invoice.lines[0].period_end) == (
        clock.now,
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    assert (invoice.total_cents, invoice.amount_paid_cents) == (250, 250)
    # The period is the plan's: nothing about the billing cycle changed.
    assert (sub.current_period_start, sub.current_period_end) == (
        T0,
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    assert await sim.get_subscription(sub_id) == sub
    paid, updated = parsed((await sim.events(provider_id))[-2:])
    assert (paid.type, updated.type) == ("invoice.paid", "customer.subscription.updated")
    assert paid.engine_customer_id == engine_id
    assert updated.subscription is not None and items_of(updated.subscription) == items_of(sub)

    # Adding more raises the quantity of the same item: the unused time on one is credited,
    # the remaining time on three charged. 12 days of 31 remain on Jan 20:
    # 500 * 1036800 / 2678400 = 193.55 -> 194; 1500 * 1036800 / 2678400 = 580.65 -> 581.
    clock.now = datetime(2026, 1, 20, tzinfo=UTC)
    sub = await sim.add_subscription_item(
        sub_id, EXTRA_CHATBOT, 2, idempotency_key=f"addon:{sub_id}:2"
    )
    assert items_of(sub) == [("plan_starter_month", 1), (EXTRA_CHATBOT, 3)]
    invoice = sub.latest_invoice
    assert invoice is not None
    assert [(line.amount_cents, line.quantity, line.description) for line in invoice.lines] == [
        (-194, 1, "Unused time on Extra chatbot after 20 Jan 2026"),
        (581, 3, "Remaining time on 3 \u00d7 Extra chatbot after 20 Jan 2026"),
    ]
    assert (invoice.total_cents, invoice.amount_paid_cents) == (387, 387)
    assert [c.amount_cents for c in await charges(sessions, provider_id)] == [2900, 250, 387]

    # The next renewal bills the plan and every add-on, quantity x price.
    preview = await sim.preview_change(
        provider_customer_id=provider_id,
        subscription_id=sub_id,
        price=STARTER_MONTH,
        proration="none",
    )
    assert preview.next_invoice_amount_cents == 4400
    raw = await sim.advance_to_period_end(provider_id)
    assert [e["type"] for e in raw] == ["invoice.paid", "customer.subscription.updated"]
    renewal = parsed(raw)[0].invoice
    assert renewal is not None
    assert renewal.billing_reason == "subscription_cycle"
    feb1, mar1 = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    assert [
        (line.price_lookup_key, line.quantity, line.amount_cents, line.proration)
        for line in renewal.lines
    ] == [("plan_starter_month", 1, 2900, False), (EXTRA_CHATBOT, 3, 1500, False)]
    assert renewal.lines[1].description == "3 \u00d7 Extra chatbot (at $5.00 / month)"
    assert all((line.period_start, line.period_end) == (feb1, mar1) for line in renewal.lines)
    assert (renewal.total_cents, renewal.amount_paid_cents) == (4400, 4400)
    assert items_of(await sim.get_subscription(sub_id)) == [
        ("plan_starter_month", 1),
        (EXTRA_CHATBOT, 3),
    ]


async def test_add_on_to_an_annual_subscription_uses_the_annual_price(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config, STARTER_YEAR)
    # At the very start of the period: the whole year, 12 x 500 less 15% = 5100.
    sub = await sim.add_subscription_item(
        sub_id, EXTRA_CHATBOT_YEAR, 2, idempotency_key=f"a1:{provider_id}"
    )
    assert items_of(sub) == [("plan_starter_year", 1), (EXTRA_CHATBOT_YEAR, 2)]
    assert sub.latest_invoice is not None
    assert sub.latest_invoice.amount_paid_cents == 10200
    # A monthly add-on price cannot join an annual plan.
    with pytest.raises(PaymentRequestRejected):
        await sim.add_subscription_item(
            sub_id, EXTRA_CHATBOT, 1, idempotency_key=f"a2:{provider_id}"
        )
    renewal = parsed(await sim.advance_to_period_end(provider_id))[0].invoice
    assert renewal is not None and renewal.amount_paid_cents == 29580 + 10200


async def test_decline_on_add_on_changes_nothing(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    await sim.add_subscription_item(sub_id, EXTRA_CHATBOT, 1, idempotency_key=f"ok:{provider_id}")
    before = await sim.get_subscription(sub_id)
    events_before = len(await sim.events(provider_id))
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"fail:{provider_id}"
    )
    clock.now = datetime(2026, 1, 10, tzinfo=UTC)
    with pytest.raises(CardDeclined) as declined:
        await sim.add_subscription_item(
            sub_id, EXTRA_CHATBOT, 2, idempotency_key=f"declined:{provider_id}"
        )
    assert declined.value.decline_code == "generic_decline"
    assert await sim.get_subscription(sub_id) == before
    assert items_of(before) == [("plan_starter_month", 1), (EXTRA_CHATBOT, 1)]
    assert len(await sim.list_invoices(provider_id)) == 2
    # Both at the frozen clock's instant: their order is not the point, their amounts are.
    assert sorted(c.amount_cents for c in await charges(sessions, provider_id)) == [500, 2900]
    # Only the card's attachment was logged: no invoice, no subscription update.
    assert [e["type"] for e in (await sim.events(provider_id))[events_before:]] == [
        "payment_method.attached"
    ]
    # The same key replays the decline; a new card and a new key go through.
    with pytest.raises(CardDeclined):
        await sim.add_subscription_item(
            sub_id, EXTRA_CHATBOT, 2, idempotency_key=f"declined:{provider_id}"
        )
    await sim.attach_payment_method(
        provider_id, "pm_card_visa", idempotency_key=f"visa2:{provider_id}"
    )
    sub = await sim.add_subscription_item(
        sub_id, EXTRA_CHATBOT, 2, idempotency_key=f"again:{provider_id}"
    )
    assert items_of(sub) == [("plan_starter_month", 1), (EXTRA_CHATBOT, 3)]


@pytest.mark.parametrize(
    ("lookup_key", "quantity", "code"),
    [
        (MESSAGE_PACK, 1, "parameter_invalid_string"),  # one-time
        (EXTRA_CHATBOT_YEAR, 1, "parameter_invalid_string"),  # not the plan's interval
        ("plan_pro_month", 1, "parameter_invalid_string"),  # not an add-on
        ("addon_nope_month", 1, "resource_missing"),
        (EXTRA_CHATBOT, 0, "parameter_invalid_integer"),
    ],
)
async def test_add_on_refusals(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    lookup_key: str,
    quantity: int,
    code: str,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    with pytest.raises(PaymentRequestRejected) as refused:
        await sim.add_subscription_item(
            sub_id, lookup_key, quantity, idempotency_key=f"r:{provider_id}"
        )
    assert refused.value.code == code
    assert len(await sim.list_invoices(provider_id)) == 1


async def test_add_on_to_a_canceled_subscription_is_refused(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    await sim.cancel_subscription(sub_id, at_period_end=False, idempotency_key=f"c:{provider_id}")
    with pytest.raises(PaymentRequestRejected) as refused:
        await sim.add_subscription_item(
            sub_id, EXTRA_CHATBOT, 1, idempotency_key=f"a:{provider_id}"
        )
    assert refused.value.code == "resource_state"


async def test_message_pack_is_charged_at_once(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    clock.now = datetime(2026, 1, 12, 8, tzinfo=UTC)
    invoice = await sim.charge_one_off(
        provider_id, MESSAGE_PACK, 3, idempotency_key=f"pack:1:{provider_id}"
    )
    assert (invoice.status, invoice.billing_reason, invoice.subscription) == (
        "paid",
        "manual",
        None,
    )
    assert invoice.customer == provider_id
    assert invoice.number == "SIM-0002"
    assert (invoice.total_cents, invoice.amount_due_cents, invoice.amount_paid_cents) == (
        3000,
        3000,
        3000,
    )
    assert invoice.paid_at == clock.now
    (line,) = invoice.lines
    assert (line.amount_cents, line.quantity, line.price_lookup_key, line.proration) == (
        3000,
        3,
        MESSAGE_PACK,
        False,
    )
    assert line.description == "Message pack (10,000 messages, current period)"
    assert [c.amount_cents for c in await charges(sessions, provider_id)] == [2900, 3000]
    assert (await sim.list_invoices(provider_id))[0] == invoice
    (paid,) = parsed((await sim.events(provider_id))[-1:])
    assert paid.type == "invoice.paid"
    assert paid.invoice == invoice
    # Not the subscription's: it and its next renewal are untouched.
    sub = await sim.get_subscription(sub_id)
    assert sub.latest_invoice is not None and sub.latest_invoice.id != invoice.id
    renewal = parsed(await sim.advance_to_period_end(provider_id))[0].invoice
    assert renewal is not None and renewal.amount_paid_cents == 2900


async def test_declined_message_pack_is_voided(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config, PRO_MONTH)
    # 3500 of credit from a downgrade halfway through January (see the downgrade test).
    clock.now = datetime(2026, 1, 16, 12, tzinfo=UTC)
    await sim.change_price(
        sub_id, STARTER_MONTH, proration="always_invoice", idempotency_key=f"d:{provider_id}"
    )
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"fail:{provider_id}"
    )
    with pytest.raises(CardDeclined) as declined:
        await sim.charge_one_off(
            provider_id, MESSAGE_PACK, 5, idempotency_key=f"pack:1:{provider_id}"
        )
    assert (declined.value.code, declined.value.decline_code) == (
        "card_declined",
        "generic_decline",
    )
    # The decline code is on the invoice's PaymentIntent: get_invoice expands it.
    voided = await sim.get_invoice((await sim.list_invoices(provider_id))[0].id)
    assert (voided.billing_reason, voided.status) == ("manual", "void")
    # 5000 less the 3500 credit was due; nothing is payable now and the credit is back.
    assert (voided.total_cents, voided.amount_due_cents) == (5000, 1500)
    assert (voided.amount_paid_cents, voided.amount_remaining_cents) == (0, 0)
    assert (voided.attempt_count, voided.decline_code) == (1, "generic_decline")
    async with sessions() as session:
        customer = await session.get(SimCustomer, provider_id)
        assert customer is not None and customer.balance_cents == -3500
    logged = [e["type"] for e in await sim.events(provider_id)][-2:]
    assert logged == ["invoice.payment_failed", "invoice.voided"]
    assert [(c.amount_cents, c.status) for c in await charges(sessions, provider_id)][-1] == (
        1500,
        "failed",
    )
    # The same key replays the decline, without another attempt.
    with pytest.raises(CardDeclined):
        await sim.charge_one_off(
            provider_id, MESSAGE_PACK, 5, idempotency_key=f"pack:1:{provider_id}"
        )
    assert [c.status for c in await charges(sessions, provider_id)] == ["succeeded", "failed"]
    # With a working card (and a new key) the credit pays its part again.
    await sim.attach_payment_method(
        provider_id, "pm_card_visa", idempotency_key=f"visa2:{provider_id}"
    )
    paid = await sim.charge_one_off(
        provider_id, MESSAGE_PACK, 5, idempotency_key=f"pack:2:{provider_id}"
    )
    assert (paid.status, paid.amount_due_cents, paid.amount_paid_cents) == ("paid", 1500, 1500)


async def test_one_off_refusals(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    _, provider_id = await new_customer(sim, sessions, engine_config)
    with pytest.raises(PaymentMethodRequired):
        await sim.charge_one_off(provider_id, MESSAGE_PACK, 1, idempotency_key=f"p:{provider_id}")
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"a:{provider_id}")
    for lookup_key, quantity, code in [
        (EXTRA_CHATBOT, 1, "parameter_invalid_string"),
        ("plan_starter_month", 1, "parameter_invalid_string"),
        (MESSAGE_PACK, 0, "parameter_invalid_integer"),
    ]:
        with pytest.raises(PaymentRequestRejected) as refused:
            await sim.charge_one_off(
                provider_id, lookup_key, quantity, idempotency_key=f"x:{provider_id}"
            )
        assert refused.value.code == code
    assert await sim.list_invoices(provider_id) == []
    # No payment method is not remembered: with a card the same key goes through, and a
    # customer needs no subscription to buy a pack.
    invoice = await sim.charge_one_off(
        provider_id, MESSAGE_PACK, 1, idempotency_key=f"p:{provider_id}"
    )
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", 1000)


async def test_add_ons_and_packs_charge_once_per_key(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    clock.now = datetime(2026, 1, 16, 12, 34, 56, tzinfo=UTC)
    first = await sim.add_subscription_item(
        sub_id, EXTRA_CHATBOT, 1, idempotency_key=f"k1:{provider_id}"
    )
    clock.now += timedelta(minutes=5)
    again = await sim.add_subscription_item(
        sub_id, EXTRA_CHATBOT, 1, idempotency_key=f"k1:{provider_id}"
    )
    assert again == first
    assert items_of(await sim.get_subscription(sub_id))[1] == (EXTRA_CHATBOT, 1)
    pack = await sim.charge_one_off(
        provider_id, MESSAGE_PACK, 2, idempotency_key=f"k2:{provider_id}"
    )
    assert (
        await sim.charge_one_off(provider_id, MESSAGE_PACK, 2, idempotency_key=f"k2:{provider_id}")
        == pack
    )
    assert len(await sim.list_invoices(provider_id)) == 3
    assert [c.amount_cents for c in await charges(sessions, provider_id)] == [2900, 250, 2000]
    # A key reused for another request is refused.
    with pytest.raises(PaymentRequestRejected) as reused:
        await sim.charge_one_off(provider_id, MESSAGE_PACK, 3, idempotency_key=f"k2:{provider_id}")
    assert reused.value.code == "idempotency_error"
    with pytest.raises(PaymentRequestRejected) as reused:
        await sim.add_subscription_item(
            sub_id, EXTRA_CHATBOT, 2, idempotency_key=f"k1:{provider_id}"
        )
    assert reused.value.code == "idempotency_error"


async def test_default_payment_method_is_the_current_card(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    _, provider_id = await new_customer(sim, sessions, engine_config)
    assert await sim.default_payment_method(provider_id) is None
    visa = await sim.attach_payment_method(
        provider_id, "pm_card_visa", idempotency_key=f"a1:{provider_id}"
    )
    assert await sim.default_payment_method(provider_id) == visa
    amex = await sim.attach_payment_method(
        provider_id, "pm_card_amex", idempotency_key=f"a2:{provider_id}"
    )
    current = await sim.default_payment_method(provider_id)
    assert current == amex
    assert current is not None and (current.brand, current.last4) == ("amex", "8431")
    # Making the first card the default again (by its id).
    await sim.attach_payment_method(provider_id, visa.id, idempotency_key=f"a3:{provider_id}")
    assert await sim.default_payment_method(provider_id) == visa
    with pytest.raises(PaymentRequestRejected):
        await sim.default_payment_method("cus_nope")


# -- idempotency --------------------------------------------------------------------------


async def test_same_key_twice_is_one_invoice_and_one_charge(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"a:{provider_id}")
    kwargs: dict[str, Any] = {
        "provider_customer_id": provider_id,
        "customer_id": engine_id,
        "price": STARTER_MONTH,
        "idempotency_key": f"s:{provider_id}",
    }
    first = await sim.create_subscription(**kwargs)
    clock.now = T0 + timedelta(hours=1)
    second = await sim.create_subscription(**kwargs)
    assert second == first
    assert len(await sim.list_invoices(provider_id)) == 1
    assert len(await charges(sessions, provider_id)) == 1

    clock.now = datetime(2026, 1, 10, tzinfo=UTC)
    up = await sim.change_price(
        first.id, PRO_MONTH, proration="always_invoice", idempotency_key="u"
    )
    again = await sim.change_price(
        first.id, PRO_MONTH, proration="always_invoice", idempotency_key="u"
    )
    assert again == up
    assert len(await sim.list_invoices(provider_id)) == 2
    assert len(await charges(sessions, provider_id)) == 2

    # The same key for another request is refused, like Stripe's idempotency_error.
    with pytest.raises(PaymentRequestRejected) as reused:
        await sim.change_price(first.id, PRO_YEAR, proration="always_invoice", idempotency_key="u")
    assert reused.value.code == "idempotency_error"


async def test_concurrent_duplicates_charge_once(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"a:{provider_id}")

    async def subscribe() -> str:
        sub = await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=PRO_MONTH,
            idempotency_key=f"s:{provider_id}",
        )
        return sub.id

    ids = await asyncio.gather(*(subscribe() for _ in range(6)))
    assert len(set(ids)) == 1
    assert await count(sessions, SimSubscription, provider_id) == 1
    assert await count(sessions, SimInvoice, provider_id) == 1
    assert [c.amount_cents for c in await charges(sessions, provider_id)] == [9900]

    # Concurrent ensure_customer calls with different keys still make one customer.
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    made = await asyncio.gather(
        *(
            sim.ensure_customer(
                customer_id=customer.id,
                email=None,
                name=None,
                idempotency_key=f"c{i}:{customer.id}",
            )
            for i in range(4)
        )
    )
    assert len(set(made)) == 1


# -- the test clock -----------------------------------------------------------------------


async def test_renewal_charges_the_next_period(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    raw = await sim.advance_to_period_end(provider_id)
    assert [e["type"] for e in raw] == ["invoice.paid", "customer.subscription.updated"]
    assert all(e["object"] == "event" and e["id"].startswith("evt_") for e in raw)
    paid, updated = parsed(raw)
    feb1, mar1 = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    assert paid.created == feb1
    assert paid.provider_customer_id == provider_id
    assert paid.engine_customer_id == engine_id
    invoice = paid.invoice
    assert invoice is not None
    assert invoice.billing_reason == "subscription_cycle"
    assert invoice.subscription == sub_id
    assert (invoice.status, invoice.amount_paid_cents, invoice.attempt_count) == ("paid", 2900, 1)
    assert invoice.lines[0].period_start == feb1 and invoice.lines[0].period_end == mar1
    assert updated.subscription is not None
    assert updated.engine_customer_id == engine_id
    assert (updated.subscription.current_period_start, updated.subscription.current_period_end) == (
        feb1,
        mar1,
    )
    assert updated.subscription.status == "active"
    assert await sim.now_for(provider_id) == feb1
    # The log holds them too, in order.
    logged = [e["id"] for e in await sim.events(provider_id)]
    assert logged[-2:] == [e["id"] for e in raw]


async def test_month_end_anchor_follows_stripe(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    clock.now = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    _, provider_id, _ = await subscribed(sim, sessions, engine_config)
    ends = []
    for _ in range(3):
        events = parsed(await sim.advance_to_period_end(provider_id))
        assert events[-1].subscription is not None
        ends.append(events[-1].subscription.current_period_end.date().isoformat())
    # Jan 31 -> Feb 28 -> Mar 31 -> Apr 30 -> May 31
    assert ends == ["2026-03-31", "2026-04-30", "2026-05-31"]


async def test_scheduled_downgrade_applies_at_renewal(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config, PRO_MONTH)
    clock.now = datetime(2026, 1, 20, tzinfo=UTC)
    sub = await sim.schedule_price_change(sub_id, STARTER_MONTH, idempotency_key=f"sch:{sub_id}")
    assert sub.price == PRO_MONTH and sub.scheduled_price == STARTER_MONTH
    assert len(await sim.list_invoices(provider_id)) == 1
    # Canceling the schedule and scheduling again works too.
    sub = await sim.cancel_scheduled_change(sub_id, idempotency_key=f"unsch:{sub_id}")
    assert sub.scheduled_price is None
    await sim.schedule_price_change(sub_id, STARTER_MONTH, idempotency_key=f"sch2:{sub_id}")

    phase, paid, updated = parsed(await sim.advance_to_period_end(provider_id))
    # The schedule enters its second phase; it lets go of the subscription when that ends.
    assert (phase.type, phase.subscription_id) == ("subscription_schedule.updated", sub_id)
    assert paid.invoice is not None
    assert paid.invoice.amount_paid_cents == 2900
    assert paid.invoice.lines[0].price_lookup_key == "plan_starter_month"
    assert updated.subscription is not None
    assert updated.subscription.price == STARTER_MONTH
    assert updated.subscription.current_period_end == datetime(2026, 3, 1, tzinfo=UTC)
    assert (await sim.get_subscription(sub_id)).scheduled_price is None
    released = [e["type"] for e in await sim.advance_to_period_end(provider_id)]
    assert released[:2] == ["subscription_schedule.released", "customer.subscription.updated"]


async def test_cancel_at_period_end_deletes_at_renewal(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    sub = await sim.cancel_subscription(sub_id, at_period_end=True, idempotency_key="c1")
    assert sub.cancel_at_period_end and sub.status == "active"
    # Reactivating undoes it; canceling again sets it again.
    sub = await sim.reactivate_subscription(sub_id, idempotency_key="r1")
    assert not sub.cancel_at_period_end and sub.canceled_at is None
    await sim.cancel_subscription(sub_id, at_period_end=True, idempotency_key="c2")

    (deleted,) = parsed(await sim.advance_to_period_end(provider_id))
    assert deleted.type == "customer.subscription.deleted"
    assert deleted.engine_customer_id == engine_id
    assert deleted.subscription is not None
    assert deleted.subscription.id == sub_id
    assert deleted.subscription.status == "canceled"
    assert len(await sim.list_invoices(provider_id)) == 1
    with pytest.raises(PaymentRequestRejected):
        await sim.reactivate_subscription(sub_id, idempotency_key="r2")
    with pytest.raises(PaymentRequestRejected):
        await sim.advance_to_period_end(provider_id)


async def test_cancel_now(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    clock.now = datetime(2026, 1, 5, tzinfo=UTC)
    sub = await sim.cancel_subscription(sub_id, at_period_end=False, idempotency_key="now")
    assert sub.status == "canceled"
    assert sub.canceled_at == datetime(2026, 1, 5, tzinfo=UTC)
    last = (await sim.events(provider_id))[-1]
    assert last["type"] == "customer.subscription.deleted"
    deleted = parse_event(last).subscription
    assert deleted is not None and deleted.status == "canceled"


async def test_failing_renewal_goes_past_due_and_recovers(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"fail:{provider_id}"
    )
    raw = await sim.advance_to_period_end(provider_id)
    assert [e["type"] for e in raw] == ["invoice.payment_failed", "customer.subscription.updated"]
    failed, updated = parsed(raw)
    assert failed.engine_customer_id == engine_id
    invoice = failed.invoice
    assert invoice is not None
    # Events carry the invoice's payments unexpanded: the decline code is on the
    # PaymentIntent, which get_invoice expands.
    assert invoice.payment_intent is not None and invoice.decline_code is None
    assert (await sim.get_invoice(invoice.id)).decline_code == "generic_decline"
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert (invoice.amount_due_cents, invoice.amount_remaining_cents) == (2900, 2900)
    assert updated.subscription is not None and updated.subscription.status == "past_due"

    # Retrying with the failing card: a decline, one more attempt.
    with pytest.raises(CardDeclined):
        await sim.pay_invoice(invoice.id, idempotency_key=f"retry1:{invoice.id}")
    assert (await sim.get_invoice(invoice.id)).attempt_count == 2
    # The same key replays the decline without another attempt.
    with pytest.raises(CardDeclined):
        await sim.pay_invoice(invoice.id, idempotency_key=f"retry1:{invoice.id}")
    assert (await sim.get_invoice(invoice.id)).attempt_count == 2

    # A new card recovers it.
    await sim.attach_payment_method(
        provider_id, "pm_card_amex", idempotency_key=f"amex:{provider_id}"
    )
    paid = await sim.pay_invoice(invoice.id, idempotency_key=f"retry2:{invoice.id}")
    assert (paid.status, paid.amount_paid_cents, paid.attempt_count) == ("paid", 2900, 3)
    assert paid.decline_code is None
    assert (await sim.get_subscription(sub_id)).status == "active"
    recovered = parsed((await sim.events(provider_id))[-2:])
    assert [e.type for e in recovered] == ["invoice.paid", "customer.subscription.updated"]
    # Paying it again (a retry racing the customer) answers the paid invoice, charges nothing.
    again = await sim.pay_invoice(invoice.id, idempotency_key=f"retry3:{invoice.id}")
    assert (again.status, again.attempt_count) == ("paid", 3)
    # The simulator's clock may give several charges the same time: compared as a whole.
    charged = Counter((c.status, c.decline_code) for c in await charges(sessions, provider_id))
    assert charged == Counter({("succeeded", None): 2, ("failed", "generic_decline"): 2})


async def test_paused_subscription_voids_its_renewal(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    resumes = datetime(2026, 3, 15, tzinfo=UTC)
    sub = await sim.pause_subscription(sub_id, resumes_at=resumes, idempotency_key="p1")
    assert sub.paused and sub.pause_resumes_at == resumes
    raw = await sim.advance_to_period_end(provider_id)
    assert [e["type"] for e in raw] == ["invoice.voided", "customer.subscription.updated"]
    voided, updated = parsed(raw)
    assert voided.invoice is not None and voided.invoice.status == "void"
    assert updated.subscription is not None and updated.subscription.paused
    assert updated.subscription.current_period_end == datetime(2026, 3, 1, tzinfo=UTC)
    assert len(await charges(sessions, provider_id)) == 1
    # On Mar 1 the pause still holds; at the Apr 1 renewal it has ended (Mar 15).
    voided_again, _ = parsed(await sim.advance_to_period_end(provider_id))
    assert voided_again.type == "invoice.voided"
    paid, _ = parsed(await sim.advance_to_period_end(provider_id))
    assert paid.type == "invoice.paid"
    sub = await sim.resume_subscription(sub_id, idempotency_key="res")
    assert not sub.paused


async def test_checkout_creates_the_subscription(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    url = await sim.create_checkout_session(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=PRO_YEAR,
        success_url="https://app.test/ok",
        cancel_url="https://app.test/cancel",
        idempotency_key=f"cs:{engine_id}",
    )
    assert url.startswith("http://sim.test/v1/simulator/checkout/cs_sim_")
    session_id = url.rsplit("/", 1)[1]
    page = await sim.get_checkout_session(session_id)
    assert (page["amount_total"], page["status"]) == (100980, "open")
    raw = await sim.complete_checkout(session_id, "pm_card_visa")
    completed, paid = parsed(raw)
    assert completed.type == "checkout.session.completed"
    assert completed.engine_customer_id == engine_id
    assert completed.provider_customer_id == provider_id
    assert completed.checkout_subscription_id is not None
    assert paid.type == "invoice.paid"
    assert paid.invoice is not None and paid.invoice.amount_paid_cents == 100980
    assert paid.invoice.subscription == completed.checkout_subscription_id
    sub = await sim.get_subscription(completed.checkout_subscription_id)
    assert (sub.price, sub.engine_customer_id) == (PRO_YEAR, engine_id)
    # Completing again answers the same events, and charges nothing more.
    again = await sim.complete_checkout(session_id, "pm_card_visa")
    assert [e["id"] for e in again] == [e["id"] for e in raw]
    assert len(await charges(sessions, provider_id)) == 1
    portal = await sim.create_portal_session(
        provider_customer_id=provider_id, return_url="https://app.test/account"
    )
    assert portal.startswith("http://sim.test/v1/simulator/portal/")


async def test_customer_updates_and_erasure(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    from adapters.payments.simulator.models import SimCustomer
    from domain.payments import Address

    _, provider_id = await new_customer(sim, sessions, engine_config)
    address = Address(line1="1 Main St", city="Springfield", postal_code="12345", country="US")
    await sim.update_customer(
        provider_id, idempotency_key="u1", email="new@example.com", address=address
    )
    async with sessions() as session:
        customer = await session.get(SimCustomer, provider_id)
        assert customer is not None
        assert customer.email == "new@example.com"
        assert customer.address is not None and customer.address["city"] == "Springfield"
    await sim.erase_customer(provider_id, idempotency_key="e1")
    async with sessions() as session:
        customer = await session.get(SimCustomer, provider_id)
        assert customer is not None
        assert (customer.email, customer.name, customer.address) == (None, None, None)
        assert customer.erased_at is not None
    logged = [e for e in await sim.events(provider_id) if e["type"].startswith("customer.")]
    assert [e["type"] for e in logged] == ["customer.created", "customer.updated"]
    for event in logged:
        obj = event["data"]["object"]
        assert (obj["email"], obj["name"], obj["address"]) == (None, None, None)
        assert obj["metadata"]["customer_id"] == parse_event(event).engine_customer_id


async def test_clock_moves_forward_and_due_renewals_happen(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    clock: FrozenClock,
) -> None:
    _, provider_id, sub_id = await subscribed(sim, sessions, engine_config)
    # Forty days on the customer's clock: the Feb 1 renewal happened, Mar 1 is ahead.
    events = parsed(await sim.advance_clock(provider_id, timedelta(days=40)))
    assert [e.type for e in events] == ["invoice.paid", "customer.subscription.updated"]
    assert await sim.now_for(provider_id) == datetime(2026, 2, 10, tzinfo=UTC)
    # Without a test clock: once real time passes Mar 1 a sweep renews it.
    clock.now = datetime(2026, 1, 19, tzinfo=UTC)  # + 40 days offset = Feb 28
    assert await sim.renew_due_subscriptions(provider_id) == []
    clock.now = datetime(2026, 1, 20, 0, 0, 1, tzinfo=UTC)  # Mar 1 00:00:01 for the customer
    swept = parsed(await sim.renew_due_subscriptions(provider_id))
    assert [e.type for e in swept] == ["invoice.paid", "customer.subscription.updated"]
    assert swept[0].created == datetime(2026, 3, 1, tzinfo=UTC)
    sub = await sim.get_subscription(sub_id)
    assert sub.current_period_end == datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        await sim.advance_clock(provider_id, timedelta(seconds=-1))


# -- SQLite ---------------------------------------------------------------------------------


async def test_subscribe_and_renew_on_sqlite(tmp_path: Path, engine_config: EngineConfig) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    await migrate(url)
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        clock = FrozenClock()
        sim = SimulatedGateway(sessions, engine_config.catalog, clock=clock)
        engine_id = "5b0c0000-0000-4000-8000-000000000001"  # no engine row needed
        provider_id = await sim.ensure_customer(
            customer_id=engine_id, email="ada@example.com", name="Ada", idempotency_key="c"
        )
        await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key="pm")
        sub = await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_YEAR,
            idempotency_key="s",
        )
        assert sub.latest_invoice is not None and sub.latest_invoice.amount_paid_cents == 29580
        assert (
            await sim.create_subscription(
                provider_customer_id=provider_id,
                customer_id=engine_id,
                price=STARTER_YEAR,
                idempotency_key="s",
            )
        ).id == sub.id
        paid, updated = parsed(await sim.advance_to_period_end(provider_id))
        assert paid.invoice is not None and paid.invoice.amount_paid_cents == 29580
        assert paid.engine_customer_id == engine_id
        assert updated.subscription is not None
        assert updated.subscription.current_period_end == datetime(2028, 1, 1, tzinfo=UTC)
        assert [i.number for i in await sim.list_invoices(provider_id)] == ["SIM-0002", "SIM-0001"]
    finally:
        await engine.dispose()
