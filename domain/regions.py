"""Which currency and which regional prices a customer pays (pure).

Regions are price books (``region:<id>``, e.g. purchasing-power tiers): a list of
countries, a multiplier of the list prices and optionally explicit local prices. A
customer's region is its billing country's, unless an admin set one; an admin may also
set none (list prices). Add-ons keep their list prices in every region, as in every book.

Region rule: a change of country (or an admin's region) never changes the price of the
period under way. A trial takes the region's prices at conversion; a subscribed customer
takes them at its next renewal (a subscription schedule at the provider, the workflow's
MRR at the same moment), in the currency it already pays in, or with a plan change it
makes before then.

Currency rule, Stripe's: a customer's currency is chosen before its first subscription (an
explicit choice, else its billing country's currency when the catalog sells in it, else the
catalog's own) and fixed by that subscription: Stripe refuses to bill a customer in another
currency afterwards, so a change of country or currency never moves a subscribed customer
to another currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from domain.catalog import Catalog, PriceBook
from domain.money import country_currency, round_fraction_half_up

REGION_BOOK_PREFIX = "region:"
# An admin's override meaning "no region: list prices".
NO_REGION = "none"


@dataclass(frozen=True)
class Region:
    id: str
    name: str
    countries: tuple[str, ...]
    # Of each currency's list price, unless ``prices`` names the amount.
    multiplier: Fraction = Fraction(1)
    # The currency its customers are offered by default (None: each country's own).
    currency: str | None = None
    # Explicit monthly plan prices: currency -> plan -> minor units.
    prices: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def book(self) -> str:
        return region_book(self.id)


def region_book(region_id: str) -> str:
    """The price book of a region (experiment books are ``<experiment>.<variant>``)."""
    return f"{REGION_BOOK_PREFIX}{region_id}"


def region_for(regions: tuple[Region, ...], country: str | None) -> Region | None:
    if not country:
        return None
    code = country.upper()
    return next((r for r in regions if code in r.countries), None)


def effective_region(
    regions: tuple[Region, ...], *, country: str | None, override: str | None
) -> Region | None:
    """An admin's override (``NO_REGION``: none) wins over the billing country's region."""
    if override == NO_REGION:
        return None
    if override:
        return next((r for r in regions if r.id == override), None)
    return region_for(regions, country)


def regional_books(catalog: Catalog, regions: tuple[Region, ...]) -> dict[str, PriceBook]:
    """Each region's book: every priced plan in every currency, its explicit price or the
    currency's list price times the multiplier (half up to the minor unit)."""
    books: dict[str, PriceBook] = {}
    currencies = catalog.currencies or (catalog.currency,)
    for region in regions:
        by_currency: dict[str, dict[str, int]] = {}
        for currency in currencies:
            local = catalog.in_currency(currency)
            explicit = region.prices.get(currency, {})
            by_currency[currency] = {
                plan.id: explicit.get(plan.id)
                or round_fraction_half_up(plan.monthly_price_cents * region.multiplier)
                for plan in local.plans.values()
                if plan.monthly_price_cents is not None
            }
        books[region.book] = PriceBook(
            monthly_price_cents=by_currency[catalog.currency],
            prices={c: p for c, p in by_currency.items() if c != catalog.currency},
        )
    return books


def with_regions(catalog: Catalog, regions: tuple[Region, ...]) -> Catalog:
    return replace(catalog, price_books={**catalog.price_books, **regional_books(catalog, regions)})


def customer_catalog(catalog: Catalog, *, currency: str | None, region_book: str | None) -> Catalog:
    """``catalog`` (a customer's terms' or the config's) in the customer's currency and
    region. ``region_book`` must be among ``catalog.price_books`` (the config's has them)."""
    local = catalog.in_currency(currency) if currency and catalog.sells_in(currency) else catalog
    if region_book is None or region_book not in local.price_books:
        return local
    return local.in_book(region_book)


class CurrencyNotSold(ValueError):
    """The catalog has no prices in the currency."""


class CurrencyFixed(ValueError):
    """The customer has subscribed: its currency cannot change any more."""


def signup_currency(
    catalog: Catalog, *, currency: str | None, country: str | None, region: Region | None = None
) -> str:
    """The currency a new customer pays in: ``currency`` when given (it must be sold),
    else its region's, else its country's when sold there, else the catalog's own."""
    if currency is not None:
        wanted = currency.lower()
        if not catalog.sells_in(wanted):
            raise CurrencyNotSold(_not_sold(catalog, wanted))
        return wanted
    if region is not None and region.currency and catalog.sells_in(region.currency):
        return region.currency
    local = country_currency(country) if country else None
    if local is not None and catalog.sells_in(local):
        return local
    return catalog.currency


def change_currency(catalog: Catalog, *, wanted: str, current: str | None, subscribed: bool) -> str:
    """The new currency of a customer, or why it cannot be: not sold, or already fixed."""
    code = wanted.lower()
    if not catalog.sells_in(code):
        raise CurrencyNotSold(_not_sold(catalog, code))
    fixed = current or catalog.currency
    if subscribed and code != fixed:
        raise CurrencyFixed(
            f"the customer pays in {fixed.upper()} since its first subscription; a customer "
            f"cannot be billed in {code.upper()} afterwards (Stripe's rule)"
        )
    return code


def _not_sold(catalog: Catalog, currency: str) -> str:
    sold = ", ".join(c.upper() for c in (catalog.currencies or (catalog.currency,)))
    return f"the catalog is not sold in {currency.upper()}; currencies: {sold}"
