"""Calendar-month arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from domain.months import add_months


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_add_months_clamps_to_the_last_day_of_the_month() -> None:
    assert add_months(at(2026, 1, 31, 9, 30), 1) == at(2026, 2, 28, 9, 30)
    assert add_months(at(2024, 1, 31), 1) == at(2024, 2, 29)  # leap year
    assert add_months(at(2026, 3, 31), 1) == at(2026, 4, 30)
    assert add_months(at(2026, 3, 31), -1) == at(2026, 2, 28)
    assert add_months(at(2024, 2, 29), 12) == at(2025, 2, 28)


def test_add_months_does_not_carry_a_clamp_forward() -> None:
    # Each call starts from its own day: Feb 28 + 1 month is Mar 28, not Mar 31.
    assert add_months(add_months(at(2026, 1, 31), 1), 1) == at(2026, 3, 28)
    assert add_months(at(2026, 1, 31), 2) == at(2026, 3, 31)


def test_add_months_crosses_years_both_ways() -> None:
    assert add_months(at(2026, 12, 15), 1) == at(2027, 1, 15)
    assert add_months(at(2026, 1, 15), -1) == at(2025, 12, 15)
    assert add_months(at(2026, 1, 15), 12) == at(2027, 1, 15)
    assert add_months(at(2026, 5, 10), -29) == at(2023, 12, 10)
    assert add_months(at(2026, 5, 10), 0) == at(2026, 5, 10)


def test_add_months_keeps_the_time_of_day_and_the_timezone() -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2026, 8, 31, 23, 59, 58, 123, tzinfo=plus_two)
    moved = add_months(moment, 1)
    assert moved == datetime(2026, 9, 30, 23, 59, 58, 123, tzinfo=plus_two)
    assert moved.tzinfo is plus_two
    naive = datetime(2026, 1, 31, 12)
    assert add_months(naive, 1) == datetime(2026, 2, 28, 12)
