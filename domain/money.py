"""Half-up rounding of money amounts, the one rule every price, proration and report uses.

Halves round away from zero (2.5 -> 3, -2.5 -> -3): Stripe documents rounding to the
nearest unit with halves going up for its fees and tax amounts, and Python's ``round`` is
half-even, which would disagree with the provider's invoices by a cent. Integer arithmetic
only, so results never depend on binary floating point.
"""

from __future__ import annotations

from fractions import Fraction


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
