"""Half-up rounding of money amounts."""

from __future__ import annotations

from fractions import Fraction

import pytest

from domain.money import round_fraction_half_up, round_half_up


def test_round_half_up_rounds_halves_away_from_zero() -> None:
    assert round_half_up(5, 10) == 1  # 0.5 -> 1 (half-even would say 0)
    assert round_half_up(25, 10) == 3  # 2.5 -> 3 (half-even would say 2)
    assert round_half_up(35, 10) == 4
    assert round_half_up(-25, 10) == -3
    assert round_half_up(-5, 10) == -1


def test_round_half_up_rounds_other_values_to_the_nearest() -> None:
    assert round_half_up(24, 10) == 2
    assert round_half_up(26, 10) == 3
    assert round_half_up(-24, 10) == -2
    assert round_half_up(-26, 10) == -3
    assert round_half_up(0, 7) == 0
    assert round_half_up(30, 10) == 3
    # a twelfth of an annual price: 1000 / 12 = 83.33 and 1010 / 12 = 84.17
    assert round_half_up(1000, 12) == 83
    assert round_half_up(1010, 12) == 84
    # 15% off 12 x 999 cents = 10189.8
    assert round_half_up(12 * 999 * 85, 100) == 10190


def test_round_half_up_refuses_a_denominator_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        round_half_up(1, 0)
    with pytest.raises(ValueError):
        round_half_up(1, -2)


def test_round_fraction_half_up_follows_the_same_rule() -> None:
    assert round_fraction_half_up(Fraction(5, 2)) == 3
    assert round_fraction_half_up(Fraction(-5, 2)) == -3
    assert round_fraction_half_up(Fraction(1, 2)) == 1
    assert round_fraction_half_up(Fraction(7, 3)) == 2
    assert round_fraction_half_up(Fraction(-7, 3)) == -2
    assert round_fraction_half_up(Fraction(0)) == 0
    assert round_fraction_half_up(Fraction(42)) == 42
