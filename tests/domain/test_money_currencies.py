"""Each currency's minor unit from CLDR (Babel), never a table of our own; money math that
keeps the currency and rounds half up to its minor unit."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from domain.emails import format_money
from domain.money import (
    Money,
    UnknownCurrency,
    country_currency,
    currency_code,
    minor_unit,
    to_major_units,
    to_minor_units,
)


def test_minor_units_come_from_cldr() -> None:
    assert [minor_unit(c) for c in ("usd", "eur", "jpy", "inr", "kwd")] == [2, 2, 0, 2, 3]
    assert to_minor_units("4400", "jpy") == 4400
    assert to_minor_units("27.50", "eur") == 2750
    assert to_minor_units(12, "kwd") == 12000
    assert to_major_units(14800, "jpy") == Decimal(14800)
    with pytest.raises(ValueError, match="more decimals than JPY"):
        to_minor_units("4400.5", "jpy")
    with pytest.raises(ValueError, match=">= 0"):
        to_minor_units("-1", "usd")
    assert currency_code(" EUR ") == "eur"
    with pytest.raises(UnknownCurrency):
        currency_code("xyz")
    assert (country_currency("jp"), country_currency("DE"), country_currency("AQ")) == (
        "jpy",
        "eur",
        None,
    )


def test_money_keeps_its_currency() -> None:
    assert Money(2900, "usd") + Money(100, "usd") == Money(3000, "usd")
    with pytest.raises(ValueError, match="cannot combine usd and eur"):
        Money(2900, "usd") + Money(100, "eur")
    # Half up in the currency's minor unit: a third of 100 yen is 33 yen.
    assert Money(100, "jpy").scaled(Fraction(1, 3)) == Money(33, "jpy")
    assert Money(5, "usd").scaled(Fraction(1, 2)) == Money(3, "usd")
    assert Money(14800, "jpy").major == Decimal(14800)


def test_the_dashboards_format_each_currency_in_its_own_minor_unit() -> None:
    assert format_money(9900, "usd") == "$99.00"
    assert format_money(14800, "jpy") == "¥14,800"
    assert format_money(-500, "eur") == "-€5.00"
    assert format_money(829900, "inr") == "₹8,299.00"
