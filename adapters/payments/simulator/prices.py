"""The simulator's prices (from the engine's catalog, by lookup key) and coupons."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from adapters.payments.base import PaymentRequestRejected
from domain.catalog import Catalog
from domain.lifecycle import BillingInterval
from domain.money import round_half_up
from domain.payments import ADDON_PRICE_PREFIX, PriceRef


@dataclass(frozen=True)
class SimPrice:
    """A price as charged in one currency: ``amount_cents`` and ``currency`` are what a
    subscription in that currency pays (its ``currency_options`` entry); the Price object
    itself keeps its own currency and amount (``list_*``), as Stripe renders it."""

    lookup_key: str
    amount_cents: int
    currency: str
    # None for one-off prices.
    interval: BillingInterval | None
    product_id: str
    product_name: str
    list_amount_cents: int | None = None
    list_currency: str | None = None
    # Every currency's amount, the Price's own currency included (Stripe's
    # ``currency_options``, rendered only when expanded); empty for one currency.
    currency_options: dict[str, int] = field(default_factory=dict)
    # Currency -> Stripe ``tax_behavior`` when tax is on (``[tax]``), as sync-catalog sets
    # it on the Price and its options; empty: ``unspecified``.
    tax_behaviors: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"price_sim_{self.lookup_key}"


def _no_such_price(lookup_key: str) -> PaymentRequestRejected:
    return PaymentRequestRejected(
        f"No such price: no active price has the lookup key '{lookup_key}'", code="resource_missing"
    )


def resolve_price(catalog: Catalog, lookup_key: str, currency: str | None = None) -> SimPrice:
    """The price in ``currency`` (the subscription's or customer's; None: the Price's own),
    from its ``currency_options``; a currency it has none for is refused, as Stripe does."""
    found = _resolve(catalog, lookup_key)
    options = {
        code: _resolve(catalog.in_currency(code), lookup_key).amount_cents
        for code in catalog.currencies
    }
    listed = replace(
        found,
        list_amount_cents=found.amount_cents,
        list_currency=found.currency,
        currency_options=options,
    )
    if currency is None or currency.lower() == found.currency:
        return listed
    wanted = currency.lower()
    if wanted not in options:
        raise PaymentRequestRejected(
            f"The price {found.id} does not support the currency '{wanted}': it has no "
            "currency option for it",
            code="parameter_invalid",
        )
    return replace(listed, amount_cents=options[wanted], currency=wanted)


def _resolve(catalog: Catalog, lookup_key: str) -> SimPrice:
    """A plan price ``plan_<plan>_<interval>[@<book>]`` (a book the catalog knows: an
    experiment variant's) or an add-on price ``addon_<id>[_<interval>]``.

    Sales-led plans (no list price) have no price. An annual add-on price is 12 monthly
    prices less the catalog's annual discount, like an annual plan.
    """
    ref = PriceRef.from_lookup_key(lookup_key)
    if ref is not None:
        try:
            catalog = catalog.in_book(ref.book)
        except KeyError:
            raise _no_such_price(lookup_key) from None
        plan = catalog.plans.get(ref.plan)
        amount = catalog.price_cents(plan, ref.interval) if plan else None
        if plan is None or amount is None:
            raise _no_such_price(lookup_key)
        return SimPrice(
            lookup_key=lookup_key,
            amount_cents=amount,
            currency=catalog.currency,
            interval=ref.interval,
            product_id=f"prod_sim_plan_{plan.id}",
            product_name=plan.name,
        )
    if lookup_key.startswith(ADDON_PRICE_PREFIX):
        rest = lookup_key[len(ADDON_PRICE_PREFIX) :]
        addon_id, _, suffix = rest.rpartition("_")
        interval: BillingInterval | None = None
        if addon_id and suffix in {i.value for i in BillingInterval}:
            interval = BillingInterval(suffix)
        else:
            addon_id = rest
        addon = catalog.addons.get(addon_id)
        if addon is None or (interval is None) != (addon.kind == "one_off"):
            raise _no_such_price(lookup_key)
        amount = addon.price_cents
        if interval is BillingInterval.YEAR:
            amount = round_half_up(12 * amount * (100 - catalog.annual_discount_percent), 100)
        return SimPrice(
            lookup_key=lookup_key,
            amount_cents=amount,
            currency=catalog.currency,
            interval=interval,
            product_id=f"prod_sim_addon_{addon.id}",
            product_name=addon.name,
        )
    raise _no_such_price(lookup_key)


@dataclass(frozen=True)
class Coupon:
    id: str
    percent_off: int
    # Always "once": the discount applies to the subscription's first invoice only.
    duration: str = "once"


_COUPON_PERCENT = re.compile(r"(\d{1,3})$")


def resolve_coupon(coupon_id: str, catalog: Catalog | None = None) -> Coupon:
    """A coupon of the catalog's ``[coupons]``; otherwise, so tests need no set-up, the
    number an id ends with is its percent off, applied once (``WINBACK20`` = 20% off the
    first invoice, ``FREE100`` = free first period). Any other id is unknown, as Stripe
    would answer."""
    if catalog is not None and coupon_id in catalog.coupons:
        return Coupon(id=coupon_id, percent_off=catalog.coupons[coupon_id].percent_off)
    match = _COUPON_PERCENT.search(coupon_id)
    percent = int(match.group(1)) if match else 0
    if not 1 <= percent <= 100:
        raise PaymentRequestRejected(f"No such coupon: '{coupon_id}'", code="resource_missing")
    return Coupon(id=coupon_id, percent_off=percent)
