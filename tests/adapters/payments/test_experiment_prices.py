"""An experiment variant's price book at the payment edge: the catalog sync wants its
prices beside the list prices (and offers only list prices in the portal), the command
creates them in Stripe, and the simulator sells them under their lookup keys."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator.prices import resolve_price
from adapters.payments.stripe_catalog import wanted
from core.config import EngineConfig, load_config
from db.engine import SessionFactory
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from lifecycle.cli import app
from tests.factories.customers import insert_customer
from tests.factories.experiments import HIGHER_PRO_CENTS, config_with, experiment_section
from tests.factories.policies import make_policy
from tests.factories.stripe_mock import API_KEY

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

BOOK = "pro_price.higher"


@pytest.fixture
def config(tmp_path: Path) -> EngineConfig:
    return load_config(config_with(tmp_path, experiment_section("pro_price")))


def test_the_sync_wants_each_variant_price_beside_the_list(config: EngineConfig) -> None:
    catalog = config.catalog
    _, prices = wanted(catalog)
    by_key = {p.lookup_key: p for p in prices}
    assert by_key["plan_pro_month"].unit_amount == 9900
    assert by_key[f"plan_pro_month@{BOOK}"].unit_amount == HIGHER_PRO_CENTS
    assert by_key[f"plan_pro_year@{BOOK}"].unit_amount == 121380  # 12 x 119 less 15 %
    # A variant customer may pick any plan: the book has them all.
    assert by_key[f"plan_starter_month@{BOOK}"].unit_amount == 2900
    assert by_key[f"plan_pro_month@{BOOK}"].product == by_key["plan_pro_month"].product
    # Beside the list prices, the shipped draft's book (lifecycle.toml's pro_119) and the
    # shipped regions' books.
    assert {p.book for p in prices} == {
        None,
        BOOK,
        "pro_119.higher",
        "region:india",
        "region:brazil",
        "region:tier-c",
    }
    # A catalog without books wants the list prices only.
    assert not any("@" in p.lookup_key for p in wanted(replace(catalog, price_books={}))[1])


def test_cli_sync_catalog_creates_the_variant_prices(stripe_mock: str, tmp_path: Path) -> None:
    path = config_with(tmp_path, experiment_section("pro_price"))
    result = CliRunner().invoke(
        app,
        ["stripe", "sync-catalog"],
        env={
            "STRIPE_API_KEY": API_KEY,
            "STRIPE_API_BASE": stripe_mock,
            "LIFECYCLE_CONFIG": str(path),
        },
    )
    assert result.exit_code == 0, result.output
    assert f"price plan_pro_month@{BOOK}" in result.output
    assert f"price plan_pro_year@{BOOK}" in result.output


def test_the_simulator_resolves_book_prices(config: EngineConfig) -> None:
    price = resolve_price(config.catalog, f"plan_pro_month@{BOOK}")
    assert price.amount_cents == HIGHER_PRO_CENTS
    assert price.interval is BillingInterval.MONTH
    assert resolve_price(config.catalog, "plan_pro_month").amount_cents == 9900
    with pytest.raises(PaymentRequestRejected):
        resolve_price(config.catalog, "plan_pro_month@pro_price.nope")


async def test_the_simulator_subscribes_at_a_book_price(
    sessions: SessionFactory, config: EngineConfig
) -> None:
    sim = SimulatedGateway(sessions, config.catalog, base_url="http://sim.test")
    customer = await insert_customer(sessions, policy=make_policy(config))
    provider_id = await sim.ensure_customer(
        customer_id=customer.id,
        email=customer.email,
        name=customer.name,
        idempotency_key=f"customer:{customer.id}",
    )
    await sim.attach_payment_method(
        provider_id, "pm_card_visa", idempotency_key=f"pm:{provider_id}"
    )
    ref = PriceRef("pro", BillingInterval.MONTH, book=BOOK)
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=customer.id,
        price=ref,
        idempotency_key=f"sub:{provider_id}",
    )
    assert sub.price == ref
    assert sub.latest_invoice is not None
    assert sub.latest_invoice.amount_paid_cents == HIGHER_PRO_CENTS
