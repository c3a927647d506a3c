"""The config's international parts: prices in other currencies (``prices = { eur = "27" }``
on plans and add-ons, one for each of ``[billing] currencies``) and ``[regions.*]``, price
books per group of countries (``domain.regions``).

Amounts beside the catalog's own currency are written in major units as a decimal string
or a whole number ("27.50", 4400): a TOML float is binary, and each currency has its own
minor unit (CLDR's, through ``domain.money``), so ``jpy = "4400.5"`` is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Protocol

import pycountry
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from domain.money import currency_code, to_minor_units
from domain.regions import Region


def _local_prices(value: object) -> object:
    if not isinstance(value, dict):
        return value
    parsed: dict[str, Decimal] = {}
    for key, amount in value.items():
        code = currency_code(str(key))
        if isinstance(amount, bool) or not isinstance(amount, int | str):
            raise ValueError(
                f'{key}: an amount in major units as a decimal string ("27.50") or a whole '
                f"number, not {amount!r}"
            )
        try:
            parsed[code] = Decimal(str(amount))
        except InvalidOperation:
            raise ValueError(f"{key}: {amount!r} is not an amount") from None
        # Checked here so the message names the currency: finer than its minor unit, < 0.
        try:
            to_minor_units(parsed[code], code)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return parsed


# Currency (lower case) -> amount in major units.
LocalPrices = Annotated[dict[str, Decimal], BeforeValidator(_local_prices)]


class _Priced(Protocol):
    @property
    def prices(self) -> dict[str, Decimal]: ...


class _PricedPlan(_Priced, Protocol):
    @property
    def monthly_price_cents(self) -> int | None: ...


def check_local_prices(
    currency: str,
    currencies: list[str],
    plans: Mapping[str, _PricedPlan],
    addons: Mapping[str, _Priced],
) -> None:
    """Every priced plan and every add-on has a price in each other currency, and nothing
    else: a currency missing one price could not be sold at all (Stripe picks the
    subscription's currency for every item)."""
    wanted = set(currencies) - {currency}
    if currency in currencies:
        raise ValueError(
            f"billing.currencies lists {currency!r}, the catalog's own currency ([billing] "
            "currency): list only the others"
        )
    owners: list[tuple[str, _Priced, bool]] = [
        (f"plans.{plan_id}", plan, plan.monthly_price_cents is not None)
        for plan_id, plan in plans.items()
    ]
    owners += [(f"addons.{addon_id}", addon, True) for addon_id, addon in addons.items()]
    for where, owner, priced in owners:
        given = set(owner.prices)
        if not priced:
            if given:
                raise ValueError(f"{where}.prices: a plan without a list price has none")
            continue
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        if missing:
            raise ValueError(
                f"{where}.prices: no price in {', '.join(missing)} (every price is sold in "
                "each of billing.currencies)"
            )
        if extra:
            raise ValueError(
                f"{where}.prices: {', '.join(extra)} is not one of billing.currencies "
                f"{sorted(wanted)}"
            )


def all_prices(currency: str, own: int | None, local: Mapping[str, Decimal]) -> dict[str, int]:
    """The price in every currency, in minor units (the catalog's currency included)."""
    if own is None:
        return {}
    return {currency: own} | {code: to_minor_units(amount, code) for code, amount in local.items()}


def catalog_currencies(currency: str, others: list[str]) -> tuple[str, ...]:
    return (currency, *others) if others else ()


# -- [regions.*]: price books per country group ------------------------------------------------

_REGION_ID = r"^[a-z0-9][a-z0-9_-]{0,47}$"


def _country(value: object) -> str:
    code = str(value).strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'IN')")
    return code


def _multiplier(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f'a decimal string such as "0.4", not {value!r}')
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not parsed.is_finite() or not 0 < parsed <= 10:
        raise ValueError(f"{value!r} must be > 0 and <= 10")
    return Fraction(parsed)


class RegionSection(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(min_length=1)
    countries: Annotated[list[str], BeforeValidator(lambda v: [_country(c) for c in v])] = Field(
        min_length=1
    )
    # Of each currency's list prices, as a decimal string ("0.4"): a TOML float is binary.
    price_multiplier: Annotated[Fraction, BeforeValidator(_multiplier)] = Fraction(1)
    # The currency its customers are offered by default (else each country's own).
    currency: str | None = None
    # Explicit monthly plan prices, in major units: { inr = { starter = "999" } }.
    prices: dict[str, dict[str, Decimal]] = {}

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return currency_code(value) if value is not None else None

    @field_validator("prices", mode="before")
    @classmethod
    def _price_currencies(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        parsed: dict[str, dict[str, Decimal]] = {}
        for key, plans in value.items():
            code = currency_code(str(key))
            if not isinstance(plans, dict):
                raise ValueError(f"{key}: a table of plan = amount, not {plans!r}")
            parsed[code] = {}
            for plan, amount in plans.items():
                if isinstance(amount, bool) or not isinstance(amount, int | str):
                    raise ValueError(f'{key}.{plan}: a decimal string ("999"), not {amount!r}')
                try:
                    parsed[code][plan] = Decimal(str(amount))
                    to_minor_units(parsed[code][plan], code)
                except (InvalidOperation, ValueError) as exc:
                    raise ValueError(f"{key}.{plan}: {exc or amount!r}") from None
        return parsed


RegionsSection = dict[str, RegionSection]


def check_regions(
    regions: RegionsSection, currency: str, currencies: list[str], priced_plans: set[str]
) -> None:
    sold = {currency, *currencies}
    seen: dict[str, str] = {}
    for region_id, region in regions.items():
        where = f"regions.{region_id}"
        if not re.match(_REGION_ID, region_id):
            raise ValueError(f"{where}: the id must match {_REGION_ID}")
        if region.currency is not None and region.currency not in sold:
            raise ValueError(f"{where}.currency {region.currency!r} is not sold ({sorted(sold)})")
        for code, plans in region.prices.items():
            if code not in sold:
                raise ValueError(f"{where}.prices.{code}: not one of the catalog's currencies")
            unknown = sorted(set(plans) - priced_plans)
            if unknown:
                raise ValueError(f"{where}.prices.{code}: {unknown} are not priced plans")
        for country in region.countries:
            if country in seen:
                raise ValueError(
                    f"{where}.countries: {country} is already in regions.{seen[country]}"
                )
            seen[country] = region_id


def regions_from(regions: RegionsSection) -> tuple[Region, ...]:
    """The config's regions; their local prices in minor units (``Plan.prices`` alike)."""
    return tuple(
        Region(
            id=region_id,
            name=r.name,
            countries=tuple(r.countries),
            multiplier=r.price_multiplier,
            currency=r.currency,
            prices={
                code: {plan: to_minor_units(amount, code) for plan, amount in plans.items()}
                for code, plans in r.prices.items()
            },
        )
        for region_id, r in regions.items()
    )
