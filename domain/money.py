"""Money: half-up rounding (the one rule every price, proration and report uses), and each
currency's minor unit from CLDR (Babel), so amounts are Stripe's integers in any currency.

Halves round away from zero (2.5 -> 3, -2.5 -> -3): Stripe documents rounding to the
nearest unit with halves going up for its fees and tax amounts, and Python's ``round`` is
half-even, which would disagree with the provider's invoices by a cent. Integer arithmetic
only, so results never depend on binary floating point.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from babel.numbers import get_currency_precision, get_territory_currencies, list_currencies


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves away from zero."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    return sign * ((abs(numerator) * 2 + denominator) // (denominator * 2))


def round_fraction_half_up(value: Fraction) -> int:
    """``value`` rounded to the nearest integer, halves away from zero."""
    # A Fraction keeps its denominator positive, so the integer rule applies as is.
    return round_half_up(value.numerator, value.denominator)


# -- currencies and their minor units --------------------------------------------------------


class UnknownCurrency(ValueError):
    """Not an ISO 4217 currency Babel (CLDR) knows."""


def currency_code(value: str) -> str:
    """The lower-case ISO 4217 code Stripe uses (``eur``), or ``UnknownCurrency``."""
    code = value.strip().upper()
    if len(code) != 3 or code not in list_currencies():
        raise UnknownCurrency(f"unknown currency {value!r}: an ISO 4217 code such as 'eur'")
    return code.lower()


def minor_unit(currency: str) -> int:
    """Decimal places of the currency's minor unit, from CLDR (``jpy`` 0, ``usd`` 2, ``kwd``
    3): Stripe's amounts are integers in that unit, so no table of our own can disagree."""
    return int(get_currency_precision(currency.upper()))


def to_minor_units(major: Decimal | int | str, currency: str) -> int:
    """``"27.50"`` EUR -> 2750, ``"4400"`` JPY -> 4400; a value finer than the currency's
    minor unit (``"4400.5"`` JPY) is refused rather than silently rounded."""
    try:
        value = Decimal(str(major))
    except InvalidOperation:
        raise ValueError(f"{major!r} is not an amount") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{major!r} is not an amount >= 0")
    scaled = value.scaleb(minor_unit(currency))
    if scaled != scaled.to_integral_value():
        places = minor_unit(currency)
        raise ValueError(
            f"{major} has more decimals than {currency.upper()}'s minor unit ({places})"
        )
    return int(scaled)


def to_major_units(amount: int, currency: str) -> Decimal:
    """Minor units as a decimal of the currency's major unit (2750 EUR -> 27.50)."""
    return Decimal(amount).scaleb(-minor_unit(currency))


@dataclass(frozen=True, order=True)
class Money:
    """An amount in a currency's minor unit, never apart from its currency: adding two
    currencies is an error, and scaling rounds half up to the currency's minor unit."""

    amount: int
    currency: str

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def scaled(self, factor: Fraction | Decimal | int) -> Money:
        """This amount times ``factor``, rounded half up to the minor unit."""
        return Money(round_fraction_half_up(self.amount * Fraction(factor)), self.currency)

    @property
    def major(self) -> Decimal:
        return to_major_units(self.amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency} amounts")


def country_currency(country: str) -> str | None:
    """The currency legal tender in the country today (CLDR), lower case; None when CLDR
    names none (Antarctica)."""
    found = get_territory_currencies(country.upper(), tender=True)
    return found[0].lower() if found else None
