"""Make Stripe's products and prices match the catalog of the configuration file.

Products have our own ids (``lc_plan_<plan>``, ``lc_addon_<addon>``); prices are found by
lookup key (``plan_<plan>_<interval>``, ``addon_<addon>[_month]``), which is how the
gateway finds them too. Stripe prices are immutable: a changed amount or interval means a
new price that takes the lookup key over (``transfer_lookup_key``); subscriptions on the
old price keep it until they are changed. A catalog sold in several currencies gives each
price ``currency_options`` (one Price, one lookup key, an amount per currency: Stripe
charges a subscription in its currency from them). With tax on (``[tax]``), each price and
each currency option carries its ``tax_behavior`` (inclusive or exclusive, per currency):
Stripe fixes a price's behavior once set, so a changed one is a new price too. Safe to run
any number of times: a second run changes nothing, and every create carries an idempotency
key derived from what it creates.
It also creates (or brings back in line) the Customer Portal configuration whose rules are
the engine's, offering the plans' prices just synced (``adapters.payments.stripe.portal``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.stripe.errors import idempotency_key, stripe_errors
from adapters.payments.stripe.portal import PortalProduct, sync_portal_configuration
from domain.catalog import Catalog
from domain.lifecycle import BillingInterval
from domain.payments import CatalogSyncReport, PriceRef, addon_lookup_key
from domain.tax.settings import TaxSettings

if TYPE_CHECKING:
    from stripe import StripeClient
    from stripe.params import PriceCreateParams

PLAN_PRODUCT_PREFIX = "lc_plan_"
ADDON_PRODUCT_PREFIX = "lc_addon_"
TaxBehaviorParam = Literal["exclusive", "inclusive", "unspecified"]
# Stripe's limit on lookup_keys per price list request.
_LOOKUP_KEYS_PER_REQUEST = 10


def _stripe_interval(interval: BillingInterval) -> Literal["month", "year"]:
    return "year" if interval is BillingInterval.YEAR else "month"


@dataclass(frozen=True)
class WantedProduct:
    id: str
    name: str
    kind: str  # plan | addon
    source_id: str


@dataclass(frozen=True)
class WantedPrice:
    lookup_key: str
    product: str
    unit_amount: int
    currency: str
    # None: a one-time price.
    interval: Literal["month", "year"] | None
    # The price book of an experiment variant's plan price; None for the list prices.
    book: str | None = None
    # The amount in each other currency the catalog sells in (Stripe ``currency_options``):
    # a subscription in EUR pays the EUR amount of the same price.
    currency_options: dict[str, int] = field(default_factory=dict)
    # Currency -> Stripe ``tax_behavior`` (the price's own currency and each option's);
    # empty with tax off (left ``unspecified``).
    tax_behaviors: dict[str, str] = field(default_factory=dict)


def _with_tax(prices: list[WantedPrice], tax: TaxSettings | None) -> list[WantedPrice]:
    if tax is None or not tax.enabled:
        return prices
    return [
        replace(
            p,
            tax_behaviors={
                code: tax.behavior_for(code).value for code in (p.currency, *p.currency_options)
            },
        )
        for p in prices
    ]


def wanted(
    catalog: Catalog, tax: TaxSettings | None = None
) -> tuple[list[WantedProduct], list[WantedPrice]]:
    products, prices = _wanted(catalog)
    return products, _with_tax(prices, tax)


def _wanted(catalog: Catalog) -> tuple[list[WantedProduct], list[WantedPrice]]:
    """What Stripe should hold for ``catalog``: self-serve plans (in the list prices and in
    every experiment variant's book) and recurring or feature add-ons monthly and annually
    (add-ons follow the plan's interval), one-off add-ons as
    one-time prices."""
    products: list[WantedProduct] = []
    prices: list[WantedPrice] = []
    for plan in catalog.plans.values():
        if not plan.self_serve or plan.monthly_price_cents is None:
            continue
        product = WantedProduct(f"{PLAN_PRODUCT_PREFIX}{plan.id}", plan.name, "plan", plan.id)
        products.append(product)
        # The list prices, then each experiment variant's book (a product's other prices).
        for book in (None, *sorted(catalog.price_books)):
            booked = catalog.in_book(book)
            for interval in BillingInterval:
                amount = booked.price_cents(booked.plan(plan.id), interval)
                if amount is None:
                    continue
                options = {
                    currency: local.price_cents(local.plan(plan.id), interval) or 0
                    for currency, local in _local_catalogs(catalog, book)
                }
                prices.append(
                    WantedPrice(
                        lookup_key=PriceRef(plan.id, interval, book=book).lookup_key,
                        product=product.id,
                        unit_amount=amount,
                        currency=catalog.currency,
                        interval=_stripe_interval(interval),
                        book=book,
                        currency_options=options,
                    )
                )
    for addon in catalog.addons.values():
        product = WantedProduct(f"{ADDON_PRODUCT_PREFIX}{addon.id}", addon.name, "addon", addon.id)
        products.append(product)
        intervals: list[BillingInterval | None] = (
            [None] if addon.kind == "one_off" else list(BillingInterval)
        )
        for addon_interval in intervals:
            prices.append(
                WantedPrice(
                    lookup_key=addon_lookup_key(addon.id, addon_interval),
                    product=product.id,
                    unit_amount=catalog.addon_price_cents(addon, addon_interval),
                    currency=catalog.currency,
                    interval=_stripe_interval(addon_interval) if addon_interval else None,
                    currency_options={
                        currency: local.addon_price_cents(local.addons[addon.id], addon_interval)
                        for currency, local in _local_catalogs(catalog, None)
                    },
                )
            )
    return products, prices


def _local_catalogs(catalog: Catalog, book: str | None) -> list[tuple[str, Catalog]]:
    """The catalog in each of its other currencies, at ``book``'s prices."""
    return [
        (currency, catalog.in_currency(currency).in_book(book))
        for currency in catalog.currencies
        if currency != catalog.currency
    ]


def _options_of(price: dict[str, Any], currency: str) -> dict[str, int]:
    """A listed price's ``currency_options`` (expanded) as amounts, its own currency left
    out (Stripe repeats it there)."""
    options = price.get("currency_options") or {}
    return {
        str(code).lower(): int(option.get("unit_amount") or 0)
        for code, option in options.items()
        if str(code).lower() != currency.lower() and isinstance(option, dict)
    }


def _tax_behaviors_of(price: dict[str, Any]) -> dict[str, str]:
    """A listed price's ``tax_behavior``, and each currency option's, by currency."""
    behaviors = {str(price.get("currency") or "").lower(): str(price.get("tax_behavior"))}
    for code, option in (price.get("currency_options") or {}).items():
        if isinstance(option, dict) and str(code).lower() not in behaviors:
            behaviors[str(code).lower()] = str(option.get("tax_behavior"))
    return behaviors


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _matches(price: dict[str, Any], want: WantedPrice) -> bool:
    recurring = price.get("recurring") or None
    if want.interval is None:
        interval_ok = recurring is None
    else:
        interval_ok = (
            isinstance(recurring, dict)
            and recurring.get("interval") == want.interval
            and int(recurring.get("interval_count") or 1) == 1
        )
    product = price.get("product")
    product_id = product.get("id") if isinstance(product, dict) else product
    return (
        interval_ok
        and price.get("unit_amount") == want.unit_amount
        and str(price.get("currency") or "").lower() == want.currency.lower()
        and product_id == want.product
        and _options_of(price, want.currency) == want.currency_options
        and (
            not want.tax_behaviors
            or all(
                _tax_behaviors_of(price).get(code) == behavior
                for code, behavior in want.tax_behaviors.items()
            )
        )
    )


async def sync_catalog(
    client: StripeClient, catalog: Catalog, *, tax: TaxSettings | None = None
) -> CatalogSyncReport:
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    conflicts: list[str] = []
    products, prices = wanted(catalog, tax)

    # Products, by our own ids.
    with stripe_errors("list products"):
        listing = await client.v1.products.list_async(
            {"ids": [p.id for p in products], "limit": 100}
        )
    existing_products = {p.id: p.to_dict() for p in listing.data}
    for product in products:
        label = f"product {product.id}"
        metadata = {"lifecycle_kind": product.kind, "lifecycle_id": product.source_id}
        found = existing_products.get(product.id)
        if found is None:
            with stripe_errors("create product"):
                await client.v1.products.create_async(
                    {"id": product.id, "name": product.name, "metadata": metadata},
                    {"idempotency_key": idempotency_key(f"catalog:product:{product.id}:create")},
                )
            created.append(label)
        elif found.get("name") != product.name or not found.get("active", True):
            with stripe_errors("update product"):
                await client.v1.products.update_async(
                    product.id,
                    {"name": product.name, "active": True, "metadata": metadata},
                    # Keyed by the state it changes (``updated``) and the wanted name: a
                    # retry replays, a later rename is a new request.
                    {
                        "idempotency_key": idempotency_key(
                            f"catalog:product:{product.id}:"
                            f"{found.get('updated') or found.get('created')}:"
                            f"{_digest(product.name)}"
                        )
                    },
                )
            updated.append(label)
        else:
            unchanged.append(label)

    # Prices, by lookup key.
    existing_prices: dict[str, dict[str, Any]] = {}
    keys = [p.lookup_key for p in prices]
    for start in range(0, len(keys), _LOOKUP_KEYS_PER_REQUEST):
        chunk = keys[start : start + _LOOKUP_KEYS_PER_REQUEST]
        with stripe_errors("list prices"):
            page = await client.v1.prices.list_async(
                {
                    "lookup_keys": chunk,
                    "active": True,
                    "limit": 100,
                    # Stripe includes currency_options only when asked.
                    "expand": ["data.currency_options"],
                }
            )
        for raw in page.data:
            price = raw.to_dict()
            if price.get("lookup_key") in chunk:
                existing_prices[str(price["lookup_key"])] = price
    price_ids: dict[str, str] = {}
    for want in prices:
        label = f"price {want.lookup_key}"
        current = existing_prices.get(want.lookup_key)
        if current is not None and _matches(current, want):
            price_ids[want.lookup_key] = str(current["id"])
            unchanged.append(label)
            continue
        params: PriceCreateParams = {
            "product": want.product,
            "currency": want.currency,
            "unit_amount": want.unit_amount,
            "lookup_key": want.lookup_key,
            # Take the key over from whichever price holds it (an archived one, or the
            # one being replaced).
            "transfer_lookup_key": True,
            "metadata": {"lifecycle_lookup_key": want.lookup_key},
        }
        if want.interval is not None:
            params["recurring"] = {"interval": want.interval, "interval_count": 1}
        behaviors = want.tax_behaviors
        if behaviors:
            params["tax_behavior"] = cast(TaxBehaviorParam, behaviors[want.currency])
        if want.currency_options:
            params["currency_options"] = {
                code: {
                    "unit_amount": amount,
                    "tax_behavior": cast(TaxBehaviorParam, behaviors[code]),
                }
                if behaviors
                else {"unit_amount": amount}
                for code, amount in want.currency_options.items()
            }
        replaces = str(current["id"]) if current is not None else "new"
        key = (
            f"catalog:price:{want.lookup_key}:{want.unit_amount}:{want.currency}:"
            f"{want.interval or 'one_time'}:{replaces}"
        )
        if want.currency_options:
            options = ",".join(f"{c}={a}" for c, a in sorted(want.currency_options.items()))
            key = f"{key}:{_digest(options)}"
        if behaviors:
            key = f"{key}:tax:{_digest(','.join(f'{c}={b}' for c, b in sorted(behaviors.items())))}"
        with stripe_errors("create price"):
            made = await client.v1.prices.create_async(
                params, {"idempotency_key": idempotency_key(key)}
            )
        price_ids[want.lookup_key] = str(made.id)
        (created if current is None else updated).append(label)

    # Coupons, by our own ids. Stripe coupons cannot change their discount: a different
    # percentage needs a new coupon id in the configuration.
    for coupon in catalog.coupons.values():
        label = f"coupon {coupon.id}"
        try:
            with stripe_errors("retrieve coupon"):
                found = (await client.v1.coupons.retrieve_async(coupon.id)).to_dict()
        except PaymentRequestRejected as exc:
            if exc.code != "resource_missing":
                raise
            found = None
        if found is None:
            with stripe_errors("create coupon"):
                await client.v1.coupons.create_async(
                    {"id": coupon.id, "percent_off": coupon.percent_off, "duration": "once"},
                    {
                        "idempotency_key": idempotency_key(
                            f"catalog:coupon:{coupon.id}:{coupon.percent_off}"
                        )
                    },
                )
            created.append(label)
        elif float(found.get("percent_off") or 0) != coupon.percent_off:
            conflicts.append(
                f"coupon {coupon.id} exists in Stripe with {found.get('percent_off')}% off, "
                f"not {coupon.percent_off}%: coupons cannot change; configure a new coupon id"
            )
        else:
            unchanged.append(label)

    # The portal offers every interval of every self-serve plan at its list price.
    portal_products = [
        PortalProduct(
            product.id,
            tuple(
                dict.fromkeys(
                    price_ids[want.lookup_key]
                    for want in prices
                    if want.product == product.id
                    and want.interval is not None
                    and want.book is None
                )
            ),
        )
        for product in products
        if product.kind == "plan"
    ]
    _, outcome = await sync_portal_configuration(client, portal_products)
    {"created": created, "updated": updated, "unchanged": unchanged}[outcome].append(
        "portal configuration"
    )

    return CatalogSyncReport(
        created=tuple(created),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        conflicts=tuple(conflicts),
    )
