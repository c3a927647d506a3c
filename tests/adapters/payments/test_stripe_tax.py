"""Stripe Tax in production (issue 15 part 3), every request checked by stripe-mock against
Stripe's spec: ``automatic_tax`` on new subscriptions and Checkout sessions, customers'
tax ids (``/v1/customers/{id}/tax_ids``), and ``tax_behavior`` on each price and currency
option by ``sync-catalog`` (a changed behavior is a new price: Stripe fixes it once set)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.payments.stripe_catalog import sync_catalog
from adapters.payments.stripe_gateway import StripeGateway
from core.config import EngineConfig
from domain.tax.calculation import TaxBehavior
from domain.tax.settings import LegalEntity, TaxSettings
from tests.adapters.payments.test_currency_prices import OptionsState, list_prices
from tests.adapters.payments.test_stripe_catalog import unflatten
from tests.factories.payments import CUSTOMER, PRO_MONTH, FixtureWorld
from tests.factories.stripe_mock import Exchange, RecordingHTTPClient

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

TAX = TaxSettings(
    enabled=True,
    seller=LegalEntity("ChatbotCloud Ltd", ("Dublin", "Ireland"), "IE"),
    behavior=TaxBehavior.EXCLUSIVE,
    behavior_by_currency={"eur": TaxBehavior.INCLUSIVE, "gbp": TaxBehavior.INCLUSIVE},
)


class TaxedState(OptionsState):
    """The prices as Stripe keeps them: with the tax behaviors they were created with."""

    def __call__(self, exchange: Exchange, body: Any) -> Any:
        answer = super().__call__(exchange, body)
        if exchange.method == "POST" and exchange.path == "/v1/prices":
            answer["tax_behavior"] = exchange.params.get("tax_behavior", "unspecified")
            options = unflatten(exchange.params).get("currency_options", {})
            for code, option in options.items():
                answer["currency_options"][code]["tax_behavior"] = option.get(
                    "tax_behavior", "unspecified"
                )
        return answer


@pytest.fixture
async def taxed_gateway(
    stripe_mock: str, recorder: RecordingHTTPClient
) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(
        "sk_test_123", api_base=stripe_mock, http_client=recorder, automatic_tax=True
    )
    yield gateway
    await gateway.aclose()


async def test_sync_catalog_sets_the_tax_behavior_per_currency(
    stripe_mock: str, recorder: RecordingHTTPClient, engine_config: EngineConfig
) -> None:
    recorder.rewrites.append(TaxedState())
    gateway = StripeGateway("sk_test_123", api_base=stripe_mock, http_client=recorder)
    try:
        catalog = list_prices(engine_config)
        await sync_catalog(gateway.client, catalog, tax=TAX)
        created = {
            e.params["lookup_key"]: e
            for e in recorder.take()
            if e.method == "POST" and e.path == "/v1/prices"
        }
        pro = created["plan_pro_month"].params
        assert pro["tax_behavior"] == "exclusive"
        assert pro["currency_options[eur][tax_behavior]"] == "inclusive"
        assert pro["currency_options[jpy][tax_behavior]"] == "exclusive"

        again = await sync_catalog(gateway.client, catalog, tax=TAX)
        assert again.created == again.updated == ()

        # Yen prices become tax-inclusive: every price is replaced (Stripe fixes it).
        jpy_inclusive = dataclasses.replace(
            TAX, behavior_by_currency={**TAX.behavior_by_currency, "jpy": TaxBehavior.INCLUSIVE}
        )
        report = await sync_catalog(gateway.client, catalog, tax=jpy_inclusive)
        assert "price plan_pro_month" in report.updated
        recorder.take()
        # Tax off: behaviors are left as they are (nothing asks to change them).
        off = await sync_catalog(gateway.client, catalog)
        assert off.created == off.updated == ()
    finally:
        await gateway.aclose()


async def test_subscriptions_and_checkout_ask_for_stripe_tax(
    taxed_gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    await taxed_gateway.create_subscription(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        idempotency_key="c-1:convert",
    )
    (create,) = [e for e in recorder.take() if e.method == "POST"]
    assert create.params["automatic_tax[enabled]"] == "true"
    await taxed_gateway.create_checkout_session(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        success_url="https://app.example.com/billing/done",
        cancel_url="https://app.example.com/billing",
        idempotency_key="k:checkout",
    )
    (checkout,) = [e for e in recorder.take() if e.method == "POST"]
    assert checkout.params["automatic_tax[enabled]"] == "true"
    assert checkout.params["customer_update[address]"] == "auto"


async def test_without_tax_nothing_asks_for_it(
    gateway: StripeGateway, recorder: RecordingHTTPClient, world: FixtureWorld
) -> None:
    await gateway.create_subscription(
        provider_customer_id=CUSTOMER,
        customer_id="c-1",
        price=PRO_MONTH,
        idempotency_key="c-1:convert",
    )
    (create,) = [e for e in recorder.take() if e.method == "POST"]
    assert not any(name.startswith("automatic_tax") for name in create.params)


async def test_tax_ids_are_added_and_deleted_on_the_customer(
    taxed_gateway: StripeGateway, recorder: RecordingHTTPClient
) -> None:
    txi = await taxed_gateway.add_tax_id(
        CUSTOMER, "eu_vat", "DE136695976", idempotency_key="tax-id:1"
    )
    assert txi.startswith("txi_")
    (add,) = recorder.take()
    assert (add.method, add.path) == ("POST", f"/v1/customers/{CUSTOMER}/tax_ids")
    assert (add.params, add.idempotency_key) == (
        {"type": "eu_vat", "value": "DE136695976"},
        "tax-id:1",
    )
    await taxed_gateway.delete_tax_id(CUSTOMER, txi)
    (delete,) = recorder.take()
    assert (delete.method, delete.path) == ("DELETE", f"/v1/customers/{CUSTOMER}/tax_ids/{txi}")
