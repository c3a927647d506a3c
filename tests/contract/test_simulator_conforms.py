"""The simulator speaks Stripe's published contract at ``STRIPE_API_VERSION``.

Every flow the engine drives, and every one Stripe plays by itself (hosted pages, the test
clock, 3-D Secure, delayed debits, disputes, card updaters, its own cancellations and
pauses), is walked through the simulator; every event it emits and every object it
answers is validated strictly against the spec (no unknown field, no required one
missing). The validation runs where the JSON is made (``render.event`` and the parsers the
gateway answers through), so a violation fails at the step that produced it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.payments.base import CardDeclined
from adapters.payments.simulator import SimulatedGateway, render
from adapters.payments.simulator import customers as customers_module
from adapters.payments.simulator import invoices as invoices_module
from adapters.payments.simulator import subscribing as subscribing_module
from adapters.payments.simulator import subscriptions as subscriptions_module
from adapters.payments.stripe_objects import parse_event
from core.config import EngineConfig
from db.engine import SessionFactory
from domain.lifecycle import BillingInterval
from domain.payments import Address, PriceRef, addon_lookup_key
from tests.factories.stripe_schema import (
    SchemaViolation,
    errors,
    validate,
    validate_event,
    validate_object,
)
from tests.factories.stripe_spec import fixtures

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR
STARTER_MONTH = PriceRef("starter", MONTH)
PRO_MONTH = PriceRef("pro", MONTH)
PRO_YEAR = PriceRef("pro", YEAR)
EXTRA_CHATBOT = addon_lookup_key("extra_chatbot", MONTH)
MESSAGE_PACK = addon_lookup_key("message_pack")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Checked:
    """What was validated, so a test can tell its flow was covered."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.objects: list[str] = []


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Checked:
    seen = Checked()
    emit = render.event

    def checked_event(*args: Any, **kwargs: Any) -> dict[str, Any]:
        event = emit(*args, **kwargs)
        validate_event(event)
        seen.events.append(str(event["type"]))
        return event

    monkeypatch.setattr(render, "event", checked_event)

    def checking(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def parse_checked(obj: Any) -> Any:
            # preview_change parses lines it computed, not an object Stripe sends.
            if "object" in obj:
                validate_object(obj)
                seen.objects.append(str(obj["object"]))
            return parse(obj)

        return parse_checked

    modules = (customers_module, subscribing_module, subscriptions_module, invoices_module)
    for module in modules:
        for name in ("parse_subscription", "parse_invoice", "parse_payment_method"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, checking(getattr(module, name)))
    return seen


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(sessions: SessionFactory, engine_config: EngineConfig, clock: Clock) -> SimulatedGateway:
    return SimulatedGateway(
        sessions, engine_config.catalog, base_url="http://sim.test", clock=clock
    )


async def customer(sim: SimulatedGateway, card: str | None = "pm_card_visa") -> tuple[str, str]:
    engine_id = str(uuid.uuid4())
    provider_id = await sim.ensure_customer(
        customer_id=engine_id, email="ada@example.com", name="Ada", idempotency_key=engine_id
    )
    if card is not None:
        await sim.attach_payment_method(provider_id, card, idempotency_key=f"pm:{engine_id}")
    return engine_id, provider_id


async def subscribed(
    sim: SimulatedGateway, price: PriceRef = STARTER_MONTH, card: str = "pm_card_visa"
) -> tuple[str, str, str]:
    engine_id, provider_id = await customer(sim, card)
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=price,
        idempotency_key=f"sub:{engine_id}",
    )
    return engine_id, provider_id, sub.id


async def checkout(
    sim: SimulatedGateway,
    price: PriceRef,
    card: str,
    *,
    currency: str | None = None,
    country: str | None = None,
) -> tuple[str, str, list]:
    engine_id, provider_id = await customer(sim, None)
    url = await sim.create_checkout_session(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=price,
        success_url="https://app.test/ok",
        cancel_url="https://app.test/cancel",
        idempotency_key=f"cs:{engine_id}",
        currency=currency,
        country=country,
    )
    session_id = url.rsplit("/", 1)[1]
    validate_object(await _page_object(sim, session_id))
    return provider_id, session_id, await sim.complete_checkout(session_id, card)


async def _page_object(sim: SimulatedGateway, session_id: str) -> dict[str, Any]:
    page = await sim.get_checkout_session(session_id)
    return {k: v for k, v in page.items() if k != "price_lookup_key"}


async def portal(sim: SimulatedGateway, provider_id: str) -> str:
    url = await sim.create_portal_session(
        provider_customer_id=provider_id, return_url="https://app.test/account"
    )
    session_id = url.rsplit("/", 1)[1]
    validate_object(await _page_object(sim, session_id))
    return session_id


def types(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["type"]) for e in events]


async def log_conforms(sim: SimulatedGateway, provider_id: str) -> None:
    """The event log as stored (after erasure scrubbed it) conforms too, and parses."""
    for event in await sim.events(provider_id, limit=1000):
        validate_event(event)
        parse_event(event)


# -- the validator ----------------------------------------------------------------------------


def test_the_validator_rejects_unknown_and_missing_fields() -> None:
    price = {
        "id": "price_1",
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1,
        "currency": "usd",
        "livemode": False,
        "metadata": {"free": "form"},
        "product": "prod_1",
        "type": "one_time",
        "unit_amount": None,
    }
    validate("price", price)
    unknown = errors("price", {**price, "scheduled_price_lookup_key": "plan_pro_month"})
    assert unknown and "scheduled_price_lookup_key" in unknown[0]
    missing = errors("price", {k: v for k, v in price.items() if k != "currency"})
    assert missing and "'currency' is a required property" in missing[0]
    # Nested objects, nullable and expandable fields are held to the same rules.
    with pytest.raises(SchemaViolation, match="was unexpected"):
        validate(
            "price",
            {
                **price,
                "recurring": {
                    "interval": "month",
                    "interval_count": 1,
                    "usage_type": "licensed",
                    "bogus": 1,
                },
            },
        )
    with pytest.raises(SchemaViolation):
        validate("price", {**price, "type": "sometimes"})
    # Stripe's own fixture product still carries the long-gone ``type``: refused.
    product = {**fixtures()["product"], "id": "prod_1"}
    with pytest.raises(SchemaViolation, match="'type' was unexpected"):
        validate("price", {**price, "product": product})
    validate("price", {**price, "product": {k: v for k, v in product.items() if k != "type"}})
    # An event's object is validated as its own type.
    event = {
        "id": "evt_1",
        "object": "event",
        "api_version": render.API_VERSION,
        "created": 1,
        "data": {"object": {**price, "invoice": "in_1"}},
        "livemode": False,
        "pending_webhooks": 0,
        "type": "price.updated",
    }
    with pytest.raises(SchemaViolation, match="'invoice' was unexpected"):
        validate_event(event)


# -- flows --------------------------------------------------------------------------------------


async def test_subscribe_renew_decline_and_recover(sim: SimulatedGateway, checked: Checked) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim)
    await sim.update_customer(
        provider_id,
        idempotency_key=f"addr:{engine_id}",
        address=Address(line1="1 Main St", city="Springfield", postal_code="12345", country="US"),
    )
    assert types(await sim.advance_to_period_end(provider_id)) == [
        "invoice.paid",
        "customer.subscription.updated",
    ]
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"fail:{engine_id}"
    )
    failed, _updated = await sim.advance_to_period_end(provider_id)
    invoice_id = failed["data"]["object"]["id"]
    invoice = await sim.get_invoice(invoice_id)
    assert (invoice.status, invoice.decline_code, invoice.requires_action) == (
        "open",
        "generic_decline",
        False,
    )
    assert invoice.payment_intent is not None
    assert await sim.invoice_for_payment_intent(invoice.payment_intent) == invoice_id
    with pytest.raises(CardDeclined):
        await sim.pay_invoice(invoice_id, idempotency_key=f"retry:{invoice_id}")
    # One PaymentIntent through every attempt.
    assert (await sim.get_invoice(invoice_id)).payment_intent == invoice.payment_intent
    await sim.attach_payment_method(provider_id, "pm_card_amex", idempotency_key=f"a:{engine_id}")
    paid = await sim.pay_invoice(invoice_id, idempotency_key=f"retry2:{invoice_id}")
    assert (paid.status, paid.decline_code) == ("paid", None)
    assert (await sim.get_subscription(sub_id)).status == "active"
    assert len(await sim.list_invoices(provider_id)) == 3
    assert await sim.default_payment_method(provider_id, subscription_id=sub_id) is not None
    await log_conforms(sim, provider_id)
    assert {"invoice", "subscription", "payment_method"} <= set(checked.objects)
    assert "invoice.payment_failed" in checked.events


async def test_checkout_by_card_saves_it_on_the_subscription_and_the_portal(
    sim: SimulatedGateway, checked: Checked, clock: Clock
) -> None:
    provider_id, _session_id, events = await checkout(sim, STARTER_MONTH, "pm_card_visa")
    assert types(events) == ["checkout.session.completed", "invoice.paid"]
    session = events[0]["data"]["object"]
    assert session["payment_status"] == "paid"
    sub_id = session["subscription"]
    sub = await sim.get_subscription(sub_id)
    assert sub.default_payment_method is not None
    # Not the customer's default: only the subscription's card charges its invoices.
    assert await sim.default_payment_method(provider_id) is None
    card = await sim.default_payment_method(provider_id, subscription_id=sub_id)
    assert card is not None and card.id == sub.default_payment_method

    clock.now = T0 + timedelta(days=10)
    page = await portal(sim, provider_id)
    updated = await sim.portal_update_card(page, "pm_card_mastercard")
    assert types(updated) == [
        "payment_method.attached",
        "customer.updated",
        "customer.subscription.updated",
    ]
    card = await sim.default_payment_method(provider_id, subscription_id=sub_id)
    assert card is not None and card.brand == "mastercard"

    upgrade = await sim.portal_change_plan(page, PRO_MONTH)
    assert types(upgrade) == ["invoice.paid", "customer.subscription.updated"]
    downgrade = await sim.portal_change_plan(page, STARTER_MONTH)
    assert types(downgrade) == ["subscription_schedule.created", "customer.subscription.updated"]
    sub = await sim.get_subscription(sub_id)
    assert (sub.price, sub.scheduled_price) == (PRO_MONTH, STARTER_MONTH)
    # A longer interval at a higher amount is no condition of the configuration's
    # ``schedule_at_period_end``: charged now, and the pending schedule released.
    again = await sim.portal_change_plan(page, PriceRef("starter", YEAR))
    assert types(again)[0] == "subscription_schedule.released"
    assert types(again)[-1] == "customer.subscription.updated"
    sub = await sim.get_subscription(sub_id)
    assert (sub.price, sub.scheduled_price) == (PriceRef("starter", YEAR), None)
    shorter = await sim.portal_change_plan(page, STARTER_MONTH)
    assert types(shorter) == ["subscription_schedule.created", "customer.subscription.updated"]
    await sim.cancel_scheduled_change(sub_id, idempotency_key=f"unsched:{sub_id}")
    assert (await sim.get_subscription(sub_id)).scheduled_price is None
    await sim.portal_change_plan(page, STARTER_MONTH)

    canceled = await sim.portal_cancel(page)
    assert types(canceled) == ["customer.subscription.updated"]
    sub = await sim.get_subscription(sub_id)
    raw = canceled[0]["data"]["object"]
    assert raw["cancel_at_period_end"] is False and raw["cancel_at"] is not None
    assert (sub.cancel_at, sub.cancellation_reason) == (
        sub.current_period_end,
        "cancellation_requested",
    )
    assert types(await sim.portal_reactivate(page)) == ["customer.subscription.updated"]

    renewal = await sim.advance_to_period_end(provider_id)
    assert types(renewal) == [
        "subscription_schedule.updated",
        "invoice.paid",
        "customer.subscription.updated",
    ]
    assert types(await sim.advance_to_period_end(provider_id))[:2] == [
        "subscription_schedule.released",
        "customer.subscription.updated",
    ]
    # A portal session lasts a day of the customer's clock: a new visit, a new session.
    await sim.portal_cancel(await portal(sim, provider_id))
    ended = await sim.advance_to_period_end(provider_id)
    assert types(ended) == ["customer.subscription.deleted"]
    assert ended[0]["data"]["object"]["cancellation_details"]["reason"] == "cancellation_requested"
    await log_conforms(sim, provider_id)


async def test_checkout_with_a_delayed_debit(sim: SimulatedGateway, checked: Checked) -> None:
    provider_id, session_id, events = await checkout(
        sim, STARTER_MONTH, "pm_sepaDebit", currency="eur", country="DE"
    )
    assert types(events) == ["checkout.session.completed"]
    session = events[0]["data"]["object"]
    assert session["payment_status"] == "unpaid"
    assert (await sim.get_subscription(session["subscription"])).status == "incomplete"
    settled = await sim.settle_async_payment(session_id, succeeded=True)
    assert types(settled) == [
        "invoice.paid",
        "customer.subscription.updated",
        "checkout.session.async_payment_succeeded",
    ]
    assert (await sim.get_subscription(session["subscription"])).status == "active"
    await log_conforms(sim, provider_id)

    provider_id, session_id, events = await checkout(
        sim, PRO_MONTH, "pm_sepaDebit", currency="eur", country="DE"
    )
    failed = await sim.settle_async_payment(session_id, succeeded=False)
    assert types(failed) == [
        "invoice.payment_failed",
        "invoice.voided",
        "customer.subscription.deleted",
        "checkout.session.async_payment_failed",
    ]
    sub_id = events[0]["data"]["object"]["subscription"]
    assert (await sim.get_subscription(sub_id)).status == "incomplete_expired"
    await log_conforms(sim, provider_id)


async def test_three_d_secure(sim: SimulatedGateway, checked: Checked) -> None:
    engine_id, provider_id = await customer(sim, "pm_card_authenticationRequired")
    with pytest.raises(CardDeclined) as declined:
        await sim.create_subscription(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_MONTH,
            idempotency_key=f"sub:{engine_id}",
        )
    assert declined.value.code == "authentication_required"
    assert await sim.list_invoices(provider_id) == []

    # Checkout authenticates on the page; the renewal, off session, cannot.
    provider_id, _, events = await checkout(sim, STARTER_MONTH, "pm_card_authenticationRequired")
    sub_id = events[0]["data"]["object"]["subscription"]
    renewal = await sim.advance_to_period_end(provider_id)
    assert types(renewal) == [
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "customer.subscription.updated",
    ]
    invoice_id = renewal[0]["data"]["object"]["id"]
    invoice = await sim.get_invoice(invoice_id)
    assert (invoice.status, invoice.requires_action) == ("open", True)
    assert invoice.hosted_invoice_url is not None
    assert (await sim.get_subscription(sub_id)).status == "past_due"
    with pytest.raises(CardDeclined) as again:
        await sim.pay_invoice(invoice_id, idempotency_key=f"pay:{invoice_id}")
    assert again.value.code == "authentication_required"
    completed = await sim.pay_invoice_on_hosted_page(invoice_id)
    assert types(completed) == ["invoice.paid", "customer.subscription.updated"]
    assert (await sim.get_invoice(invoice_id)).requires_action is False
    assert (await sim.get_subscription(sub_id)).status == "active"
    await log_conforms(sim, provider_id)


async def test_plan_changes_add_ons_packs_and_cancellation(
    sim: SimulatedGateway, checked: Checked, clock: Clock
) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim)
    clock.now = T0 + timedelta(days=9)
    await sim.preview_change(
        provider_customer_id=provider_id,
        subscription_id=sub_id,
        price=PRO_MONTH,
        proration="always_invoice",
    )
    await sim.change_price(
        sub_id, PRO_MONTH, proration="always_invoice", idempotency_key=f"up:{sub_id}"
    )
    await sim.schedule_price_change(sub_id, STARTER_MONTH, idempotency_key=f"down:{sub_id}")
    await sim.change_price(
        sub_id, PRO_YEAR, proration="always_invoice", idempotency_key=f"year:{sub_id}"
    )
    assert (await sim.get_subscription(sub_id)).scheduled_price is None
    await sim.add_subscription_item(
        sub_id, addon_lookup_key("extra_chatbot", YEAR), 2, idempotency_key=f"addon:{sub_id}"
    )
    await sim.charge_one_off(provider_id, MESSAGE_PACK, 2, idempotency_key=f"pack:{sub_id}")
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"fail:{engine_id}"
    )
    with pytest.raises(CardDeclined):
        await sim.charge_one_off(provider_id, MESSAGE_PACK, 1, idempotency_key=f"pack2:{sub_id}")
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"v:{engine_id}")
    sub = await sim.cancel_subscription(sub_id, at_period_end=True, idempotency_key=f"c1:{sub_id}")
    assert (sub.cancel_at_period_end, sub.cancellation_reason) == (True, "cancellation_requested")
    sub = await sim.reactivate_subscription(sub_id, idempotency_key=f"r1:{sub_id}")
    assert (sub.cancel_at_period_end, sub.cancellation_reason) == (False, None)
    await sim.schedule_price_change(
        sub_id, PriceRef("starter", YEAR), idempotency_key=f"d2:{sub_id}"
    )
    sub = await sim.cancel_subscription(sub_id, at_period_end=False, idempotency_key=f"c2:{sub_id}")
    assert (sub.status, sub.cancellation_reason) == ("canceled", "cancellation_requested")
    assert "subscription_schedule.canceled" in checked.events
    await log_conforms(sim, provider_id)


async def test_a_coupon_applied_later_discounts_the_next_renewal_only(
    sim: SimulatedGateway, checked: Checked
) -> None:
    _, provider_id, sub_id = await subscribed(sim)
    sub = await sim.apply_coupon(sub_id, coupon="SAVE30", idempotency_key=f"c:{sub_id}")
    assert sub.status == "active"
    raw = (await sim.events(provider_id))[-1]["data"]["object"]
    assert raw["discounts"] == ["di_sim_SAVE30"]
    renewal = await sim.advance_to_period_end(provider_id)
    paid = next(e["data"]["object"] for e in renewal if e["type"] == "invoice.paid")
    assert paid["discounts"] == ["di_sim_SAVE30"]
    assert paid["total"] == paid["subtotal"] - paid["total_discount_amounts"][0]["amount"]
    assert paid["total_discount_amounts"][0]["amount"] == round(paid["subtotal"] * 0.3)
    after = await sim.advance_to_period_end(provider_id)
    again = next(e["data"]["object"] for e in after if e["type"] == "invoice.paid")
    assert (again["discounts"], again["total"]) == ([], again["subtotal"])
    await log_conforms(sim, provider_id)


async def test_both_kinds_of_pause(sim: SimulatedGateway, checked: Checked) -> None:
    _, provider_id, sub_id = await subscribed(sim)
    sub = await sim.pause_subscription(sub_id, resumes_at=None, idempotency_key=f"p:{sub_id}")
    assert sub.paused and sub.status == "active"
    assert types(await sim.advance_to_period_end(provider_id)) == [
        "invoice.voided",
        "customer.subscription.updated",
    ]
    await sim.resume_subscription(sub_id, idempotency_key=f"r:{sub_id}")

    paused = await sim.pause_by_status(sub_id)
    assert types(paused) == ["customer.subscription.paused"]
    raw = paused[0]["data"]["object"]
    assert (raw["status"], raw["pause_collection"]) == ("paused", None)
    assert (await sim.get_subscription(sub_id)).paused
    resumed = await sim.resume_from_pause(sub_id)
    assert types(resumed) == ["invoice.paid", "customer.subscription.resumed"]
    assert resumed[-1]["data"]["object"]["status"] == "active"
    await log_conforms(sim, provider_id)


async def test_closing_open_invoices_settles_past_due(
    sim: SimulatedGateway, checked: Checked
) -> None:
    engine_id, provider_id, sub_id = await subscribed(sim)
    await sim.attach_payment_method(
        provider_id, "pm_card_chargeCustomerFail", idempotency_key=f"fail:{engine_id}"
    )
    failed, _ = await sim.advance_to_period_end(provider_id)
    written_off = await sim.mark_invoice_uncollectible(
        failed["data"]["object"]["id"], idempotency_key=f"uncollectible:{sub_id}"
    )
    assert written_off.status == "uncollectible"
    assert (await sim.get_subscription(sub_id)).status == "active"
    assert "invoice.marked_uncollectible" in checked.events

    failed, _ = await sim.advance_to_period_end(provider_id)
    voided = await sim.void_invoice(failed["data"]["object"]["id"])
    assert types(voided) == ["invoice.voided", "customer.subscription.updated"]
    assert (await sim.get_subscription(sub_id)).status == "active"
    await log_conforms(sim, provider_id)


async def test_refunds_disputes_and_stripes_own_cancellations(
    sim: SimulatedGateway, checked: Checked
) -> None:
    _, provider_id, sub_id = await subscribed(sim)
    invoice_id = (await sim.get_subscription(sub_id)).latest_invoice.id  # type: ignore[union-attr]
    refunded = await sim.refund_invoice(invoice_id, amount_cents=900)
    assert types(refunded) == ["charge.refunded"]
    charge = refunded[0]["data"]["object"]
    assert "invoice" not in charge and charge["amount_refunded"] == 900
    assert await sim.invoice_for_payment_intent(charge["payment_intent"]) == invoice_id
    disputed = await sim.dispute_invoice(invoice_id)
    assert types(disputed) == ["charge.dispute.created"]
    assert parse_event(disputed[0]).extra["charge"] == charge["id"]
    ended = await sim.cancel_involuntarily(sub_id, reason="payment_disputed")
    assert types(ended) == ["customer.subscription.deleted"]
    assert (await sim.get_subscription(sub_id)).cancellation_reason == "payment_disputed"

    _, provider_id, sub_id = await subscribed(sim)
    await sim.cancel_involuntarily(sub_id, reason="payment_failed")
    assert (await sim.get_subscription(sub_id)).cancellation_reason == "payment_failed"
    await log_conforms(sim, provider_id)


async def test_cards_detached_and_updated_by_the_network(
    sim: SimulatedGateway, checked: Checked
) -> None:
    _, provider_id, _sub_id = await subscribed(sim)
    card = await sim.default_payment_method(provider_id)
    assert card is not None
    updated = await sim.auto_update_payment_method(card.id, exp_month=1, exp_year=2031)
    assert types(updated) == ["payment_method.automatically_updated"]
    assert updated[0]["data"]["previous_attributes"]["card"]["exp_year"] != 2031
    detached = await sim.detach_payment_method(card.id)
    assert types(detached) == ["payment_method.detached", "customer.updated"]
    event = detached[0]
    assert event["data"]["object"]["customer"] is None
    assert parse_event(event).provider_customer_id == provider_id
    assert await sim.default_payment_method(provider_id) is None
    await log_conforms(sim, provider_id)


async def test_upcoming_invoice_previews_and_erasure(
    sim: SimulatedGateway, checked: Checked
) -> None:
    _, provider_id, sub_id = await subscribed(sim)
    (upcoming,) = await sim.emit_upcoming_invoice(sub_id)
    assert upcoming["type"] == "invoice.upcoming"
    assert parse_event(upcoming).invoice is None  # a preview, not an invoice
    assert len(await sim.list_invoices(provider_id)) == 1
    await sim.erase_customer(provider_id, idempotency_key=f"erase:{provider_id}")
    await log_conforms(sim, provider_id)
