"""Rates and cent quotients as the reports round them (``domain.reporting.rates``)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from domain.money import round_fraction_half_up
from domain.reporting.rates import ratio


def test_rounding_helpers() -> None:
    assert ratio(1, 3) == Decimal("0.3333")
    assert ratio(2, 3) == Decimal("0.6667")
    assert ratio(1, 8) == Decimal("0.1250")  # exact, no float error
    assert ratio(1, 20000) == Decimal("0.0001")  # half up
    assert ratio(1, 0) is None
    assert round_fraction_half_up(Fraction(5, 2)) == 3
    assert round_fraction_half_up(Fraction(-5, 2)) == -3
