"""``sync_catalog`` and ``lifecycle stripe sync-catalog`` against stripe-mock.

stripe-mock keeps no state, so ``CatalogState`` remembers the products and prices the sync
created (from the requests stripe-mock accepted) and answers later list requests with them:
enough to see a second run change nothing and a price change create a replacement.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.payments.stripe_catalog import sync_catalog, wanted
from adapters.payments.stripe_gateway import StripeGateway
from core.config import EngineConfig
from domain.catalog import Catalog
from lifecycle.cli import app
from tests.factories.stripe_mock import API_KEY, Exchange, RecordingHTTPClient, ScriptedError

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

PLAN_KEYS = ["plan_starter_month", "plan_starter_year", "plan_pro_month", "plan_pro_year"]
ADDON_KEYS = [
    "addon_extra_chatbot_month",
    "addon_extra_chatbot_year",
    "addon_message_pack",
    "addon_premium_support_month",
    "addon_premium_support_year",
    "addon_branding_removal_month",
    "addon_branding_removal_year",
    "addon_advanced_analytics_month",
    "addon_advanced_analytics_year",
    "addon_api_rate_boost_month",
    "addon_api_rate_boost_year",
]
PRODUCTS = [
    "lc_plan_starter",
    "lc_plan_pro",
    "lc_addon_extra_chatbot",
    "lc_addon_message_pack",
    "lc_addon_premium_support",
    "lc_addon_branding_removal",
    "lc_addon_advanced_analytics",
    "lc_addon_api_rate_boost",
]


def unflatten(params: dict[str, str]) -> dict[str, Any]:
    """Form parameters (``a[b][0][c]=v``) back into the JSON they encode."""
    root: dict[str, Any] = {}
    for name, value in params.items():
        keys = [name.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", name)]
        node: Any = root
        for key, following in zip(keys, [*keys[1:], None], strict=True):
            if following is None:
                node[key] = {"true": True, "false": False}.get(value, value)
            else:
                node = node.setdefault(key, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class CatalogState:
    """What Stripe would hold after the requests seen so far."""

    def __init__(self) -> None:
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}  # by id
        self.coupons: dict[str, dict[str, Any]] = {}
        self.portals: dict[str, dict[str, Any]] = {}
        self._serial = 0

    def __call__(self, exchange: Exchange, body: Any) -> Any:
        params = exchange.params
        if exchange.path.startswith("/v1/billing_portal/configurations"):
            return self._portal(exchange, body)
        if exchange.method == "POST" and exchange.path == "/v1/products":
            self.products[params["id"]] = {**body, "id": params["id"], "name": params["name"]}
        elif exchange.method == "POST" and exchange.path.startswith("/v1/products/"):
            product_id = exchange.path.rsplit("/", 1)[1]
            self.products[product_id] = {**self.products[product_id], "name": params["name"]}
        elif exchange.method == "POST" and exchange.path == "/v1/prices":
            self._serial += 1
            price = copy.deepcopy(body)
            price.update(
                id=f"price_{self._serial}",
                product=params["product"],
                unit_amount=int(params["unit_amount"]),
                currency=params["currency"],
                lookup_key=params["lookup_key"],
                active=True,
                recurring={"interval": params["recurring[interval]"], "interval_count": 1}
                if "recurring[interval]" in params
                else None,
                type="recurring" if "recurring[interval]" in params else "one_time",
            )
            if params.get("transfer_lookup_key") == "true":
                for other in self.prices.values():
                    if other["lookup_key"] == price["lookup_key"]:
                        other["lookup_key"] = None
            self.prices[price["id"]] = price
            return price
        elif exchange.method == "POST" and exchange.path == "/v1/coupons":
            coupon = {**body, "id": params["id"], "percent_off": float(params["percent_off"])}
            self.coupons[params["id"]] = coupon
            return coupon
        elif exchange.method == "GET" and exchange.path.startswith("/v1/coupons/"):
            coupon_id = exchange.path.rsplit("/", 1)[1]
            if coupon_id not in self.coupons:
                return ScriptedError(
                    "GET",
                    exchange.path,
                    404,
                    {"type": "invalid_request_error", "code": "resource_missing"},
                )
            return self.coupons[coupon_id]
        elif exchange.method == "GET" and exchange.path == "/v1/products":
            ids = [v for k, v in params.items() if k.startswith("ids[")]
            body["data"] = [self.products[i] for i in ids if i in self.products]
        elif exchange.method == "GET" and exchange.path == "/v1/prices":
            keys = {v for k, v in params.items() if k.startswith("lookup_keys[")}
            body["data"] = [p for p in self.prices.values() if p["lookup_key"] in keys]
        return body

    def _portal(self, exchange: Exchange, body: Any) -> Any:
        self._serial += 1
        sent = unflatten(exchange.params)
        if exchange.method == "GET":
            # The account's Dashboard default is always there too.
            body["data"] = [body["data"][0], *self.portals.values()]
            return body
        if exchange.path == "/v1/billing_portal/configurations":
            configuration = {**body, "id": f"bpc_engine_{self._serial}", "is_default": False}
        else:
            configuration = self.portals[exchange.path.rsplit("/", 1)[1]]
        configuration.update(
            features=sent["features"],
            metadata=sent["metadata"],
            active=sent.get("active", True),
            updated=configuration.get("updated", 0) + self._serial,
        )
        self.portals[configuration["id"]] = configuration
        return configuration


@pytest.fixture
async def stripe_client(
    stripe_mock: str, recorder: RecordingHTTPClient
) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(API_KEY, api_base=stripe_mock, http_client=recorder)
    yield gateway
    await gateway.aclose()


def list_catalog(config: EngineConfig) -> Catalog:
    """The config's list prices only, in its own currency: experiments' price books and
    currency options have their own tests (tests/adapters/payments/test_experiment_prices.py,
    tests/adapters/payments/test_currency_prices.py)."""
    return dataclasses.replace(config.catalog, price_books={}, currencies=())


def test_wanted_prices(engine_config: EngineConfig) -> None:
    catalog = list_catalog(engine_config)
    products, prices = wanted(catalog)
    assert [p.id for p in products] == PRODUCTS
    by_key = {p.lookup_key: p for p in prices}
    assert list(by_key) == PLAN_KEYS + ADDON_KEYS
    assert by_key["plan_pro_month"].unit_amount == 9900
    assert by_key["plan_pro_year"].unit_amount == catalog.annual_price_cents(catalog.plan("pro"))
    assert by_key["plan_pro_year"].interval == "year"
    assert by_key["addon_message_pack"].interval is None
    assert by_key["addon_extra_chatbot_month"].interval == "month"
    assert by_key["addon_extra_chatbot_month"].unit_amount == 500
    assert by_key["addon_premium_support_month"].product == "lc_addon_premium_support"
    # The sales-led plan has no price in Stripe.
    assert not any("enterprise" in key for key in by_key)


async def test_sync_catalog_creates_then_changes_nothing(
    stripe_client: StripeGateway, recorder: RecordingHTTPClient, engine_config: EngineConfig
) -> None:
    state = CatalogState()
    recorder.rewrites.append(state)
    catalog = list_catalog(engine_config)

    first = await sync_catalog(stripe_client.client, catalog)
    assert first.created == tuple(
        [f"product {p}" for p in PRODUCTS]
        + [f"price {k}" for k in PLAN_KEYS + ADDON_KEYS]
        + [f"coupon {c}" for c in catalog.coupons]
        + ["portal configuration"]
    )
    assert first.updated == first.unchanged == ()
    exchanges = recorder.take()
    products = [e for e in exchanges if e.method == "POST" and e.path == "/v1/products"]
    assert products[0].params == {
        "id": "lc_plan_starter",
        "name": "Starter",
        "metadata[lifecycle_kind]": "plan",
        "metadata[lifecycle_id]": "starter",
    }
    assert products[0].idempotency_key == "catalog:product:lc_plan_starter:create"
    prices = {
        e.params["lookup_key"]: e
        for e in exchanges
        if e.method == "POST" and e.path == "/v1/prices"
    }
    annual = prices["plan_starter_year"]
    assert annual.params == {
        "product": "lc_plan_starter",
        "currency": "usd",
        "unit_amount": str(catalog.annual_price_cents(catalog.plan("starter"))),
        "lookup_key": "plan_starter_year",
        "transfer_lookup_key": "true",
        "metadata[lifecycle_lookup_key]": "plan_starter_year",
        "recurring[interval]": "year",
        "recurring[interval_count]": "1",
    }
    assert annual.idempotency_key == "catalog:price:plan_starter_year:29580:usd:year:new"
    one_off = prices["addon_message_pack"]
    assert one_off.params["unit_amount"] == "1000"
    assert not any(name.startswith("recurring") for name in one_off.params)
    coupons = [e for e in exchanges if e.method == "POST" and e.path == "/v1/coupons"]
    assert [c.params for c in coupons] == [
        {"id": c.id, "percent_off": str(c.percent_off), "duration": "once"}
        for c in catalog.coupons.values()
    ]
    assert coupons[0].idempotency_key == "catalog:coupon:WINBACK20:20"
    # lookup_keys go ten to a request (Stripe's limit).
    listings = [e for e in exchanges if e.method == "GET" and e.path == "/v1/prices"]
    assert all(sum(k.startswith("lookup_keys[") for k in e.params) <= 10 for e in listings)

    (portal,) = [e for e in exchanges if e.path == "/v1/billing_portal/configurations"][1:]
    plan_price = {p["lookup_key"]: p["id"] for p in state.prices.values()}
    assert portal.params == {
        "name": "Lifecycle engine",
        "features[subscription_update][enabled]": "true",
        "features[subscription_update][default_allowed_updates][0]": "price",
        # Every interval of every self-serve plan; no add-on, no sales-led plan.
        "features[subscription_update][products][0][product]": "lc_plan_starter",
        "features[subscription_update][products][0][prices][0]": plan_price["plan_starter_month"],
        "features[subscription_update][products][0][prices][1]": plan_price["plan_starter_year"],
        "features[subscription_update][products][1][product]": "lc_plan_pro",
        "features[subscription_update][products][1][prices][0]": plan_price["plan_pro_month"],
        "features[subscription_update][products][1][prices][1]": plan_price["plan_pro_year"],
        # Upgrades now, charged with the proration; downgrades and shorter intervals at
        # the period end.
        "features[subscription_update][proration_behavior]": "always_invoice",
        "features[subscription_update][schedule_at_period_end][conditions][0][type]": (
            "decreasing_item_amount"
        ),
        "features[subscription_update][schedule_at_period_end][conditions][1][type]": (
            "shortening_interval"
        ),
        "features[subscription_cancel][enabled]": "true",
        "features[subscription_cancel][mode]": "at_period_end",
        "features[subscription_cancel][proration_behavior]": "none",
        "features[payment_method_update][enabled]": "true",
        "features[invoice_history][enabled]": "true",
        "features[customer_update][enabled]": "false",
        "metadata[lifecycle_engine]": "portal",
        "metadata[lifecycle_digest]": portal.params["metadata[lifecycle_digest]"],
    }
    assert (portal.idempotency_key or "").startswith("catalog:portal:create:")

    second = await sync_catalog(stripe_client.client, catalog)
    assert second.created == second.updated == ()
    assert len(second.unchanged) == len(first.created)
    assert second.unchanged[-1] == "portal configuration"
    assert [e for e in recorder.take() if e.method == "POST"] == []
    assert state.coupons["WINBACK20"]["percent_off"] == 20.0


async def test_sync_catalog_reports_a_coupon_it_cannot_change(
    stripe_client: StripeGateway, engine_config: EngineConfig
) -> None:
    # Raw stripe-mock answers every coupon lookup with a fixture of another percentage.
    report = await sync_catalog(stripe_client.client, list_catalog(engine_config))
    assert len(report.conflicts) == len(list_catalog(engine_config).coupons)
    assert "coupon WINBACK20" in report.conflicts[0]


async def test_sync_catalog_replaces_changed_prices(
    stripe_client: StripeGateway, recorder: RecordingHTTPClient, engine_config: EngineConfig
) -> None:
    state = CatalogState()
    recorder.rewrites.append(state)
    catalog = list_catalog(engine_config)
    await sync_catalog(stripe_client.client, catalog)
    old_pro_month = next(
        p["id"] for p in state.prices.values() if p["lookup_key"] == "plan_pro_month"
    )
    recorder.take()

    pro = dataclasses.replace(catalog.plan("pro"), monthly_price_cents=10900)
    starter = dataclasses.replace(catalog.plan("starter"), name="Starter (2027)")
    changed = Catalog(
        plans={**catalog.plans, "pro": pro, "starter": starter},
        addons=catalog.addons,
        annual_discount_percent=catalog.annual_discount_percent,
        currency=catalog.currency,
    )
    report = await sync_catalog(stripe_client.client, changed)
    assert report.created == ()
    assert report.updated == (
        "product lc_plan_starter",
        "price plan_pro_month",
        "price plan_pro_year",
        # It offers the new Pro prices, in place.
        "portal configuration",
    )
    posts = [e for e in recorder.take() if e.method == "POST"]
    rename, new_month, new_year, portal = posts
    assert rename.path == "/v1/products/lc_plan_starter"
    assert rename.params["name"] == "Starter (2027)"
    assert new_month.params["unit_amount"] == "10900"
    # Prices are immutable: a new one takes the lookup key over.
    assert new_month.params["transfer_lookup_key"] == "true"
    assert new_month.idempotency_key == (
        f"catalog:price:plan_pro_month:10900:usd:month:{old_pro_month}"
    )
    assert new_year.params["unit_amount"] == str(changed.annual_price_cents(pro))
    (configuration,) = state.portals
    assert portal.path == f"/v1/billing_portal/configurations/{configuration}"
    assert portal.params["active"] == "true"
    assert portal.params["features[subscription_update][products][1][prices][0]"] == (
        state_price_id(state, "plan_pro_month")
    )

    again = await sync_catalog(stripe_client.client, changed)
    assert again.created == again.updated == ()


def state_price_id(state: CatalogState, lookup_key: str) -> str:
    return str(next(p["id"] for p in state.prices.values() if p["lookup_key"] == lookup_key))


@pytest.mark.parametrize(
    "dashboard_edit",
    [
        {"features": {"subscription_cancel": {"enabled": True, "mode": "immediately"}}},
        {"features": {"subscription_update": {"proration_behavior": "none"}}},
        {"active": False},
    ],
)
async def test_sync_catalog_restores_an_edited_portal_configuration(
    stripe_client: StripeGateway,
    recorder: RecordingHTTPClient,
    engine_config: EngineConfig,
    dashboard_edit: dict[str, Any],
) -> None:
    """Someone changed the engine's configuration in the Dashboard (or deactivated it): the
    next sync brings that very configuration back to the engine's rules."""
    state = CatalogState()
    recorder.rewrites.append(state)
    await sync_catalog(stripe_client.client, list_catalog(engine_config))
    (configuration,) = state.portals.values()
    for key, value in dashboard_edit.items():
        if key == "features":
            for feature, changes in value.items():
                configuration["features"][feature].update(changes)
        else:
            configuration[key] = value
    recorder.take()

    report = await sync_catalog(stripe_client.client, list_catalog(engine_config))
    assert report.updated == ("portal configuration",)
    (update,) = [e for e in recorder.take() if e.method == "POST"]
    assert update.path == f"/v1/billing_portal/configurations/{configuration['id']}"
    assert update.params["active"] == "true"
    assert update.params["features[subscription_cancel][mode]"] == "at_period_end"
    assert len(state.portals) == 1
    again = await sync_catalog(stripe_client.client, list_catalog(engine_config))
    assert again.updated == ()


async def test_sync_catalog_keys_are_deterministic(
    stripe_client: StripeGateway, recorder: RecordingHTTPClient, engine_config: EngineConfig
) -> None:
    # Raw stripe-mock finds nothing, so both runs create everything: with the same keys.
    # (Except the portal configuration's, which names the prices offered: stripe-mock gives
    # each created price a new id.)
    await sync_catalog(stripe_client.client, list_catalog(engine_config))
    first = [e.idempotency_key for e in recorder.take() if e.method == "POST"]
    await sync_catalog(stripe_client.client, list_catalog(engine_config))
    second = [e.idempotency_key for e in recorder.take() if e.method == "POST"]
    assert first[:-1] == second[:-1]
    assert len(set(first)) == len(first) == len(PRODUCTS) + len(PLAN_KEYS) + len(ADDON_KEYS) + 1
    assert all((k or "").startswith("catalog:portal:create:") for k in (first[-1], second[-1]))


# -- the command ----------------------------------------------------------------------


def test_cli_sync_catalog(stripe_mock: str) -> None:
    result = CliRunner().invoke(
        app,
        ["stripe", "sync-catalog"],
        env={"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": stripe_mock},
    )
    assert result.exit_code == 0, result.output
    # 8 products, 15 list prices, 4 of the shipped draft experiment's book, 4 of each of
    # the 3 shipped regions' books, the portal configuration (stripe-mock's coupons all
    # conflict).
    assert "created: 40" in result.output
    assert "price plan_pro_year" in result.output


def test_cli_sync_catalog_needs_an_api_key() -> None:
    result = CliRunner().invoke(
        app, ["stripe", "sync-catalog"], env={"STRIPE_API_KEY": None, "STRIPE_API_BASE": None}
    )
    assert result.exit_code == 2
    assert "STRIPE_API_KEY is not set" in result.output


def test_cli_sync_catalog_reports_stripe_errors() -> None:
    # Nothing listens there: a clear error, no traceback.
    result = CliRunner().invoke(
        app,
        ["stripe", "sync-catalog"],
        env={"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": "http://127.0.0.1:9"},
    )
    assert result.exit_code == 1
    assert "Stripe is unavailable" in result.output
