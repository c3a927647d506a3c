"""Local payment methods in the simulator's Checkout (``domain.payment_methods``): a session
offers what the customer's currency and country allow and nothing else, and every object
and event of each method's flow validates against Stripe's spec (the fixtures of
``test_simulator_conforms`` check each event as it is emitted)."""

from __future__ import annotations

import pytest

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.simulator import SimulatedGateway
from domain.payment_methods import checkout_methods
from tests.contract import test_simulator_conforms as conforms
from tests.contract.test_simulator_conforms import (
    STARTER_MONTH,
    Checked,
    _page_object,
    checkout,
    customer,
    log_conforms,
    types,
)

# The fixtures that validate every event the simulator emits against Stripe's spec.
sim = conforms.sim
checked = conforms.checked
clock = conforms.clock


@pytest.mark.parametrize(
    ("method", "currency", "country", "delayed"),
    [
        ("pm_ideal", "eur", "NL", False),
        ("pm_bancontact", "eur", "BE", False),
        ("pm_upi", "inr", "IN", False),
        ("pm_pix", "brl", "BR", False),
        ("pm_boleto", "brl", "BR", True),
    ],
)
async def test_a_local_method_pays_a_checkout(
    sim: SimulatedGateway,
    checked: Checked,
    method: str,
    currency: str,
    country: str,
    delayed: bool,
) -> None:
    provider_id, session_id, events = await checkout(
        sim, STARTER_MONTH, method, currency=currency, country=country
    )
    page = await _page_object(sim, session_id)
    assert page["payment_method_types"] == list(checkout_methods(currency, country))
    session = events[0]["data"]["object"]
    assert session["currency"] == currency
    sub_id = session["subscription"]
    if delayed:
        assert types(events) == ["checkout.session.completed"]
        assert session["payment_status"] == "unpaid"
        assert (await sim.get_subscription(sub_id)).status == "incomplete"
        settled = await sim.settle_async_payment(session_id, succeeded=True)
        assert types(settled)[-1] == "checkout.session.async_payment_succeeded"
    else:
        assert types(events) == ["checkout.session.completed", "invoice.paid"]
    assert (await sim.get_subscription(sub_id)).status == "active"
    saved = await sim.default_payment_method(provider_id, subscription_id=sub_id)
    assert saved is not None and saved.brand is None  # not a card
    assert "payment_method.attached" in checked.events
    await log_conforms(sim, provider_id)
    # The method's own object, as validated: e.g. ``boleto.tax_id``, ``upi.vpa``.
    attached = [
        e
        for e in await sim.events(provider_id, limit=100)
        if e["type"] == "payment_method.attached"
    ]
    obj = attached[0]["data"]["object"]
    assert obj["type"] == method.removeprefix("pm_") and obj["type"] in obj


async def test_an_unpaid_boleto_ends_the_subscription(
    sim: SimulatedGateway, checked: Checked
) -> None:
    provider_id, session_id, events = await checkout(
        sim, STARTER_MONTH, "pm_boleto", currency="brl", country="BR"
    )
    failed = await sim.settle_async_payment(session_id, succeeded=False)
    assert types(failed)[-1] == "checkout.session.async_payment_failed"
    sub_id = events[0]["data"]["object"]["subscription"]
    assert (await sim.get_subscription(sub_id)).status == "incomplete_expired"
    await log_conforms(sim, provider_id)


@pytest.mark.parametrize(
    ("currency", "country", "refused"),
    [
        (None, "US", "pm_sepaDebit"),
        ("eur", None, "pm_sepaDebit"),
        ("brl", "BR", "pm_upi"),
        ("inr", "IN", "pm_boleto"),
        ("eur", "DE", "pm_ideal"),
    ],
)
async def test_a_session_refuses_a_method_it_does_not_offer(
    sim: SimulatedGateway,
    checked: Checked,
    currency: str | None,
    country: str | None,
    refused: str,
) -> None:
    engine_id, provider_id = await customer(sim, None)
    url = await sim.create_checkout_session(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=STARTER_MONTH,
        success_url="https://app.test/ok",
        cancel_url="https://app.test/cancel",
        idempotency_key=f"cs:{engine_id}",
        currency=currency,
        country=country,
    )
    session_id = url.rsplit("/", 1)[1]
    with pytest.raises(PaymentRequestRejected) as rejected:
        await sim.complete_checkout(session_id, refused)
    assert rejected.value.code == "payment_method_unavailable"
    # Nothing kept: no payment method attached, the session still open for a card.
    assert "payment_method.attached" not in types(await sim.events(provider_id, limit=100))
    assert (await _page_object(sim, session_id))["status"] == "open"
    events = await sim.complete_checkout(session_id, "pm_card_visa")
    assert types(events) == ["checkout.session.completed", "invoice.paid"]
