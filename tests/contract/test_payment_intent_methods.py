"""The ``payment_method_types`` of the simulator's invoice PaymentIntents, as Stripe shows
them: a Checkout session's invoice lists what the session offered; a renewal lists the type
of the method it charged (card for a card, sepa_debit for a SEPA mandate), never a fixed
list. Every object still validates against Stripe's spec (the ``checked`` fixture)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator import invoices as invoices_module
from domain.payment_methods import checkout_methods
from tests.contract import test_simulator_conforms as conforms
from tests.contract.test_simulator_conforms import (
    STARTER_MONTH,
    Checked,
    checkout,
    subscribed,
)

sim = conforms.sim
checked = conforms.checked
clock = conforms.clock


@pytest.fixture
def intents(checked: Checked, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Each invoice's expanded PaymentIntent's ``payment_method_types``, by invoice id, as
    the gateway last rendered it (after ``checked`` validated it)."""
    seen: dict[str, list[str]] = {}
    parse = invoices_module.parse_invoice

    def recording(obj: Any) -> Any:
        for payment in obj.get("payments", {}).get("data", []):
            intent = payment["payment"]["payment_intent"]
            if isinstance(intent, dict):
                seen[obj["id"]] = intent["payment_method_types"]
        return parse(obj)

    monkeypatch.setattr(invoices_module, "parse_invoice", recording)
    return seen


async def renewal_invoice(sim: SimulatedGateway, provider_id: str) -> str:
    events = await sim.advance_to_period_end(provider_id)
    [paid] = [e for e in events if e["type"] == "invoice.paid"]
    return str(paid["data"]["object"]["id"])


async def test_a_card_renewal_lists_card(
    sim: SimulatedGateway, intents: dict[str, list[str]]
) -> None:
    _, provider_id, _ = await subscribed(sim)
    invoice_id = await renewal_invoice(sim, provider_id)
    await sim.get_invoice(invoice_id)
    assert intents[invoice_id] == ["card"]


async def test_a_sepa_checkout_lists_the_session_methods_then_its_renewals_sepa_debit(
    sim: SimulatedGateway, intents: dict[str, list[str]]
) -> None:
    provider_id, session_id, events = await checkout(
        sim, STARTER_MONTH, "pm_sepaDebit", currency="eur", country="DE"
    )
    first = str(events[0]["data"]["object"]["invoice"])
    await sim.get_invoice(first)
    offered = list(checkout_methods("eur", "DE"))
    assert "sepa_debit" in offered and len(offered) > 1
    assert intents[first] == offered
    await sim.settle_async_payment(session_id, succeeded=True)
    renewal = await renewal_invoice(sim, provider_id)
    await sim.get_invoice(renewal)
    assert intents[renewal] == ["sepa_debit"]


async def test_a_boleto_checkout_lists_what_brazil_is_offered(
    sim: SimulatedGateway, intents: dict[str, list[str]]
) -> None:
    _, _, events = await checkout(sim, STARTER_MONTH, "pm_boleto", currency="brl", country="BR")
    invoice_id = str(events[0]["data"]["object"]["invoice"])
    await sim.get_invoice(invoice_id)
    assert intents[invoice_id] == list(checkout_methods("brl", "BR"))
    assert "sepa_debit" not in intents[invoice_id]
