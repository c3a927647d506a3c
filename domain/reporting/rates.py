"""Rates and day counts as the reports print them.

* Rounding: money is integer cents; cent figures that are quotients (ARPU, LTV, revenue per
  customer) round half up (``domain.money``). Rates are ``Decimal`` fractions (0.25 is 25 %)
  rounded half up to 4 places, days to 2 places; ``None`` when the denominator is 0.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from domain.money import round_fraction_half_up

RATE_PLACES = 4
DAYS_PLACES = 2


def to_decimal(value: Fraction, places: int) -> Decimal:
    scaled = round_fraction_half_up(value * 10**places)
    return (Decimal(scaled) / Decimal(10**places)).quantize(Decimal(1).scaleb(-places))


def ratio(numerator: int, denominator: int, places: int = RATE_PLACES) -> Decimal | None:
    if denominator == 0:
        return None
    return to_decimal(Fraction(numerator, denominator), places)
