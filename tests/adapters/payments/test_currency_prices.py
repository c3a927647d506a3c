"""Prices in several currencies (issue 15 part 1): ``currency_options`` synced to Stripe
(checked by stripe-mock against Stripe's spec), the simulator's Price objects with their
options valid against the spec, and a zero-decimal (JPY) customer charged whole yen at
sign-up, on renewal and for add-ons, its currency fixed by the first subscription.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.simulator import SimulatedGateway, render, resolve_price
from adapters.payments.stripe_catalog import sync_catalog, wanted
from adapters.payments.stripe_gateway import StripeGateway
from adapters.payments.stripe_objects import parse_event
from core.config import EngineConfig
from db.engine import SessionFactory
from domain.catalog import Catalog
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef, addon_lookup_key
from tests.adapters.payments.test_simulator import FrozenClock, charges, new_customer
from tests.adapters.payments.test_stripe_catalog import CatalogState, unflatten
from tests.factories.payments import CUSTOMER, PRO_MONTH, FixtureWorld, price_id
from tests.factories.stripe_mock import Exchange, RecordingHTTPClient
from tests.factories.stripe_schema import validate, validate_event

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR
STARTER_MONTH = PriceRef("starter", MONTH)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def list_prices(config: EngineConfig) -> Catalog:
    return dataclasses.replace(config.catalog, price_books={})


class OptionsState(CatalogState):
    """stripe-mock's answers, plus the currency_options each created price was given (it
    answers with a fixture that has none)."""

    def __call__(self, exchange: Exchange, body: Any) -> Any:
        answer = super().__call__(exchange, body)
        if exchange.method == "POST" and exchange.path == "/v1/prices":
            options = unflatten(exchange.params).get("currency_options", {})
            answer["currency_options"] = {
                code: {"unit_amount": int(option["unit_amount"])}
                for code, option in options.items()
            }
        return answer


# -- the catalog ----------------------------------------------------------------------------


def test_every_price_has_an_option_per_currency(engine_config: EngineConfig) -> None:
    catalog = list_prices(engine_config)
    assert catalog.currencies == ("usd", "eur", "gbp", "inr", "brl", "jpy")
    _, prices = wanted(catalog)
    by_key = {p.lookup_key: p for p in prices}
    starter = by_key["plan_starter_month"]
    assert (starter.currency, starter.unit_amount) == ("usd", 2900)
    # Major units in the config, minor units at Stripe: yen have none, rupees have paise.
    assert starter.currency_options == {
        "eur": 2700,
        "gbp": 2300,
        "inr": 249900,
        "brl": 14900,
        "jpy": 4400,
    }
    # 12 x 4400 less 15%, in whole yen.
    assert by_key["plan_starter_year"].currency_options["jpy"] == 44880
    assert by_key["addon_message_pack"].currency_options["jpy"] == 1500
    assert all(set(p.currency_options) == set(catalog.currencies) - {"usd"} for p in prices)


async def test_sync_catalog_sends_currency_options_stripe_accepts(
    stripe_mock: str, recorder: RecordingHTTPClient, engine_config: EngineConfig
) -> None:
    """stripe-mock validates every request against Stripe's OpenAPI spec (the recorder
    fixture fails the test on any rejection); a second run finds the options in place."""
    state = OptionsState()
    recorder.rewrites.append(state)
    gateway = StripeGateway("sk_test_123", api_base=stripe_mock, http_client=recorder)
    try:
        catalog = list_prices(engine_config)
        await sync_catalog(gateway.client, catalog)
        created = {
            e.params["lookup_key"]: e
            for e in recorder.take()
            if e.method == "POST" and e.path == "/v1/prices"
        }
        pro = created["plan_pro_month"]
        assert pro.params["currency"] == "usd"
        assert pro.params["unit_amount"] == "9900"
        assert pro.params["currency_options[jpy][unit_amount]"] == "14800"
        assert pro.params["currency_options[inr][unit_amount]"] == "829900"
        # The key names the options too: new amounts are a new request.
        assert (pro.idempotency_key or "").startswith("catalog:price:plan_pro_month:9900:usd:")

        again = await sync_catalog(gateway.client, catalog)
        assert again.created == again.updated == ()
        listings = [e for e in recorder.take() if e.path == "/v1/prices"]
        assert all(e.method == "GET" for e in listings)
        # currency_options are only listed when expanded.
        assert all(e.params.get("expand[0]") == "data.currency_options" for e in listings)

        # A changed yen price replaces the price (prices are immutable).
        pro_plan = catalog.plan("pro")
        changed = dataclasses.replace(
            catalog,
            plans={
                **catalog.plans,
                "pro": dataclasses.replace(pro_plan, prices={**pro_plan.prices, "jpy": 15800}),
            },
        )
        report = await sync_catalog(gateway.client, changed)
        assert "price plan_pro_month" in report.updated
        assert "price plan_starter_month" in report.unchanged
    finally:
        await gateway.aclose()


def test_the_simulators_price_with_its_options_conforms_to_the_spec(
    engine_config: EngineConfig,
) -> None:
    price = resolve_price(engine_config.catalog, "plan_pro_year", "jpy")
    # Charged in yen; the Price object itself stays in its own currency.
    assert (price.amount_cents, price.currency) == (150960, "jpy")
    rendered = render.price(price, expand_currency_options=True)
    validate("price", rendered)
    assert (rendered["currency"], rendered["unit_amount"]) == ("usd", 100980)
    assert rendered["currency_options"]["jpy"]["unit_amount"] == 150960
    assert rendered["currency_options"]["usd"]["unit_amount"] == 100980
    validate("price", render.price(price))
    with pytest.raises(PaymentRequestRejected, match="chf"):
        resolve_price(engine_config.catalog, "plan_pro_year", "chf")


# -- a zero-decimal customer in the simulator -------------------------------------------------


@pytest.fixture
def sim(sessions: SessionFactory, engine_config: EngineConfig) -> SimulatedGateway:
    return SimulatedGateway(
        sessions, engine_config.catalog, base_url="http://sim.test", clock=FrozenClock(T0)
    )


async def test_a_jpy_customer_pays_whole_yen_and_keeps_its_currency(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"pm:{engine_id}")
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=STARTER_MONTH,
        idempotency_key=f"sub:{engine_id}",
        currency="jpy",
    )
    assert sub.currency == "jpy"
    first = sub.latest_invoice
    assert first is not None
    assert (first.currency, first.total_cents, first.amount_paid_cents) == ("jpy", 4400, 4400)
    assert first.lines[0].amount_cents == 4400

    # An add-on mid-period: prorated to the second, rounded to whole yen.
    with_addon = await sim.add_subscription_item(
        sub.id,
        addon_lookup_key("extra_chatbot", MONTH),
        1,
        idempotency_key=f"addon:{engine_id}",
    )
    assert with_addon.latest_invoice is not None
    assert with_addon.latest_invoice.currency == "jpy"
    assert with_addon.latest_invoice.total_cents == 750  # a whole period: T0 is its start

    # The renewal bills the plan and the add-on in yen.
    events = await sim.advance_to_period_end(provider_id)
    for event in events:
        validate_event(event)
    renewal = next(e.invoice for e in map(parse_event, events) if e.type == "invoice.paid")
    assert renewal is not None
    assert renewal.billing_reason == "subscription_cycle"
    assert (renewal.currency, renewal.total_cents) == ("jpy", 4400 + 750)

    # A one-off pack is invoiced in the customer's currency.
    pack = await sim.charge_one_off(
        provider_id, addon_lookup_key("message_pack"), 1, idempotency_key=f"pack:{engine_id}"
    )
    assert (pack.currency, pack.total_cents) == ("jpy", 1500)
    assert [(c.amount_cents, c.currency) for c in await charges(sessions, provider_id)] == [
        (4400, "jpy"),
        (750, "jpy"),
        (5150, "jpy"),
        (1500, "jpy"),
    ]

    # Stripe's rule: no other currency for this customer any more.
    with pytest.raises(PaymentRequestRejected, match="cannot combine currencies"):
        await sim.create_checkout_session(
            provider_customer_id=provider_id,
            customer_id=engine_id,
            price=STARTER_MONTH,
            success_url="https://app.test/ok",
            cancel_url="https://app.test/no",
            idempotency_key=f"cs:{engine_id}",
            currency="usd",
        )


# -- the Stripe gateway asks for the customer's currency ---------------------------------------


async def test_stripe_subscription_and_checkout_carry_the_currency(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    """stripe-mock checks both requests against Stripe's spec (``currency`` included)."""
    await gateway.create_subscription(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        idempotency_key="c-1:convert:jpy",
        currency="jpy",
    )
    (create,) = [e for e in recorder.take() if e.method == "POST"]
    assert create.path == "/v1/subscriptions"
    assert create.params["currency"] == "jpy"
    assert create.params["items[0][price]"] == price_id("plan_pro_month")
    await gateway.create_checkout_session(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        success_url="https://app.example.com/billing/done",
        cancel_url="https://app.example.com/billing",
        idempotency_key="k:checkout:eur",
        currency="eur",
    )
    (checkout,) = [e for e in recorder.take() if e.method == "POST"]
    assert checkout.path == "/v1/checkout/sessions"
    assert checkout.params["currency"] == "eur"
