"""Local payment methods through the API (``domain.payment_methods``): the simulator's
Checkout page offers a customer the card and the methods of its currency and country, and
refuses any other; a method confirmed on the page converts the trial like a card."""

from __future__ import annotations

import httpx
import pytest

from adapters.payments.simulator.cards import SIM_CARDS
from db.engine import SessionFactory
from domain.payment_methods import checkout_methods
from tests.factories.checkout import trial_at_checkout
from tests.factories.polling import eventually
from tests.factories.records import outbox
from tests.factories.webhooks import WAIT, view_of


@pytest.mark.parametrize(
    ("currency", "country", "expected", "local"),
    [
        ("brl", "BR", {"card", "boleto", "pix"}, "pm_pix"),
        ("inr", "IN", {"card", "upi"}, "pm_upi"),
        # A US customer pays in its country's currency, by card only.
        (None, "US", {"card"}, None),
    ],
)
async def test_checkout_offers_the_customers_local_methods(
    http: httpx.AsyncClient,
    currency: str | None,
    country: str,
    expected: set[str],
    local: str | None,
) -> None:
    checkout = await trial_at_checkout(http, country=country, currency=currency)
    customer_id = checkout.customer_id
    offered = await checkout.offered(http)
    assert {SIM_CARDS[m].type for m in offered} == expected
    assert expected == set(checkout_methods(currency or "usd", country))
    assert "pm_card_visa" in offered

    # A method of another country is refused, and the session stays open.
    foreign = "pm_sepaDebit"
    refused = await checkout.complete(http, foreign)
    assert refused.status_code == 422, refused.text
    assert "sepa_debit" in refused.json()["detail"]
    assert (await view_of(http, customer_id))["status"] == "trialing"

    paid = await checkout.completed(http, local or "pm_card_visa")
    assert paid == ["checkout.session.completed", "invoice.paid"]
    view = await eventually(
        lambda: view_of(http, customer_id), lambda v: v["status"] == "active", timeout=WAIT
    )
    assert view["plan"] == "starter"


async def test_an_unknown_checkout_page_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/simulator/checkout/cs_nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_boleto_waits_for_the_voucher_and_tells_the_customer_in_portuguese(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """A boleto completes Checkout unpaid: the Brazilian customer stays in the trial and
    hears, in its language, that the payment is under way; paying the voucher converts."""
    checkout = await trial_at_checkout(
        http, country="BR", currency="brl", locale="pt-BR", email_prefix="boleto"
    )
    customer_id = checkout.customer_id
    assert await checkout.completed(http, "pm_boleto") == ["checkout.session.completed"]
    emails = await eventually(
        lambda: outbox(sessions, customer_id),
        lambda rows: any(r.template == "checkout_payment_processing" for r in rows),
        timeout=WAIT,
    )
    (processing,) = [r for r in emails if r.template == "checkout_payment_processing"]
    assert "a caminho" in (processing.subject or "") and "boleto" in (processing.body or "")
    assert (await view_of(http, customer_id))["status"] == "trialing"

    await checkout.settle(http, succeeded=True)
    view = await eventually(
        lambda: view_of(http, customer_id), lambda v: v["status"] == "active", timeout=WAIT
    )
    assert view["currency"] == "brl"
