"""Proration by the second and Stripe's billing periods, with hand-computed cents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.lifecycle import BillingInterval
from domain.proration import (
    add_interval,
    billing_period,
    format_date,
    next_period_end,
    prorate,
    prorate_change,
    prorate_cycle_reset,
    prorated_cents,
    remaining_time_description,
    unused_time_description,
)

MONTH = BillingInterval.MONTH
YEAR = BillingInterval.YEAR


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_prorated_cents_rounds_each_amount_to_a_whole_cent() -> None:
    # 25 cents for 1 second of a 10 second period = 2.5 -> 3
    assert prorated_cents(25, 1, 10) == 3
    # the remaining time is clamped to the period
    assert prorated_cents(2900, -5, 100) == 0
    assert prorated_cents(2900, 500, 100) == 2900
    with pytest.raises(ValueError):
        prorated_cents(2900, 1, 0)


# -- price changes within a cycle -----------------------------------------------------


def test_upgrade_half_way_through_january() -> None:
    # January 2026 = 31 days = 2,678,400 s; from Jan 16 00:00 16 days = 1,382,400 s remain.
    result = prorate_change(2900, 9900, at(2026, 1, 1), at(2026, 2, 1), at(2026, 1, 16))
    # 2900 * 16/31 = 1496.77 -> 1497 credited; 9900 * 16/31 = 5109.68 -> 5110 charged
    assert result.credit_cents == -1497
    assert result.charge_cents == 5110
    assert result.net_cents == 3613
    assert result.amount_due_cents == 3613
    assert result.balance_credit_cents == 0
    assert result.remaining_seconds == 1_382_400
    assert result.period_seconds == 2_678_400
    assert (result.period_start, result.period_end) == (at(2026, 1, 16), at(2026, 2, 1))
    assert not result.resets_cycle


def test_upgrade_is_prorated_by_the_second() -> None:
    # From Jan 16 12:34:56 to Feb 1 00:00:00: 15 d 11 h 25 min 4 s = 1,337,104 s remain.
    result = prorate_change(2900, 9900, at(2026, 1, 1), at(2026, 2, 1), at(2026, 1, 16, 12, 34, 56))
    assert result.remaining_seconds == 1_337_104
    # 2900 * 1,337,104 / 2,678,400 = 3,877,601,600 / 2,678,400 = 1447.73 -> 1448
    assert result.credit_cents == -1448
    # 9900 * 1,337,104 / 2,678,400 = 13,237,329,600 / 2,678,400 = 4942.25 -> 4942
    assert result.charge_cents == 4942
    assert result.amount_due_cents == 3494


def test_sub_second_parts_of_the_change_time_are_ignored() -> None:
    with_micros = datetime(2026, 1, 16, 12, 34, 56, 999_999, tzinfo=UTC)
    result = prorate_change(2900, 9900, at(2026, 1, 1), at(2026, 2, 1), with_micros)
    assert result.remaining_seconds == 1_337_104
    assert result.at == at(2026, 1, 16, 12, 34, 56)


def test_downgrade_credit_exceeds_the_charge() -> None:
    # April = 30 days; from Apr 16 exactly half remains.
    result = prorate_change(9900, 2900, at(2026, 4, 1), at(2026, 5, 1), at(2026, 4, 16))
    assert result.credit_cents == -4950
    assert result.charge_cents == 1450
    assert result.net_cents == -3500
    assert result.amount_due_cents == 0
    assert result.balance_credit_cents == -3500


def test_change_at_the_edges_of_the_period() -> None:
    start, end = at(2026, 1, 1), at(2026, 2, 1)
    first = prorate_change(2900, 9900, start, end, start)
    assert (first.credit_cents, first.charge_cents) == (-2900, 9900)
    before = prorate_change(2900, 9900, start, end, at(2025, 12, 20))
    assert (before.credit_cents, before.charge_cents) == (-2900, 9900)
    after = prorate_change(2900, 9900, start, end, at(2026, 2, 3))
    assert (after.credit_cents, after.charge_cents) == (0, 0)
    with pytest.raises(ValueError):
        prorate_change(2900, 9900, end, start, start)


def test_february_is_a_shorter_period() -> None:
    # Feb 2026 = 28 days; from Feb 15 exactly half remains: 2900/2 = 1450, 9900/2 = 4950.
    result = prorate_change(2900, 9900, at(2026, 2, 1), at(2026, 3, 1), at(2026, 2, 15))
    assert (result.credit_cents, result.charge_cents) == (-1450, 4950)


# -- interval changes reset the cycle -------------------------------------------------


def test_monthly_to_annual_resets_the_cycle() -> None:
    result = prorate_cycle_reset(2900, 29580, at(2026, 1, 1), at(2026, 2, 1), at(2026, 1, 16), YEAR)
    # unused: 2900 * 16/31 -> 1497; the full annual price is charged.
    assert result.credit_cents == -1497
    assert result.charge_cents == 29580
    assert result.amount_due_cents == 28083
    assert result.resets_cycle
    assert (result.period_start, result.period_end) == (at(2026, 1, 16), at(2027, 1, 16))


def test_annual_to_monthly_leaves_credit() -> None:
    # Pro annual 100,980 for 2026 (365 days = 31,536,000 s); from Jul 1 06:00,
    # 183 d 18 h = 15,876,000 s remain: 100,980 * 15,876,000 / 31,536,000 = 50835.82 -> 50836.
    result = prorate(100980, YEAR, 9900, MONTH, at(2026, 1, 1), at(2027, 1, 1), at(2026, 7, 1, 6))
    assert result.resets_cycle
    assert result.credit_cents == -50836
    assert result.charge_cents == 9900
    assert result.net_cents == -40936
    assert result.amount_due_cents == 0
    assert result.balance_credit_cents == -40936
    assert (result.period_start, result.period_end) == (at(2026, 7, 1, 6), at(2026, 8, 1, 6))


def test_prorate_picks_the_rule_by_interval() -> None:
    same = prorate(2900, MONTH, 9900, MONTH, at(2026, 1, 1), at(2026, 2, 1), at(2026, 1, 16))
    assert not same.resets_cycle
    assert same.charge_cents == 5110


# -- billing periods ------------------------------------------------------------------


def test_monthly_periods_follow_the_anchor_not_the_previous_end() -> None:
    anchor = at(2026, 1, 31, 10)
    ends = []
    end = anchor
    for _ in range(4):
        end = next_period_end(anchor, MONTH, end)
        ends.append(end)
    # Jan 31 -> Feb 28 -> Mar 31 (back to the 31st) -> Apr 30 -> May 31
    assert ends == [
        at(2026, 2, 28, 10),
        at(2026, 3, 31, 10),
        at(2026, 4, 30, 10),
        at(2026, 5, 31, 10),
    ]


def test_yearly_periods_from_february_29() -> None:
    anchor = at(2024, 2, 29)
    assert add_interval(anchor, YEAR) == at(2025, 2, 28)
    assert add_interval(anchor, YEAR, 4) == at(2028, 2, 29)
    assert next_period_end(anchor, YEAR, at(2025, 2, 28)) == at(2026, 2, 28)
    assert next_period_end(anchor, YEAR, at(2027, 3, 1)) == at(2028, 2, 29)


def test_next_period_end_is_strictly_after() -> None:
    anchor = at(2026, 1, 15, 12)
    assert next_period_end(anchor, MONTH, anchor) == at(2026, 2, 15, 12)
    assert next_period_end(anchor, MONTH, at(2026, 2, 15, 11, 59, 59)) == at(2026, 2, 15, 12)
    assert next_period_end(anchor, MONTH, at(2026, 2, 15, 12)) == at(2026, 3, 15, 12)
    assert next_period_end(anchor, MONTH, at(2029, 7, 1)) == at(2029, 7, 15, 12)


def test_billing_period_containing_a_moment() -> None:
    anchor = at(2026, 1, 31)
    assert billing_period(anchor, MONTH, at(2026, 3, 5)) == (at(2026, 2, 28), at(2026, 3, 31))
    assert billing_period(anchor, MONTH, at(2026, 3, 31)) == (at(2026, 3, 31), at(2026, 4, 30))
    assert billing_period(anchor, YEAR, at(2026, 6, 1)) == (at(2026, 1, 31), at(2027, 1, 31))
    with pytest.raises(ValueError):
        billing_period(anchor, MONTH, at(2025, 12, 1))


# -- wording --------------------------------------------------------------------------


def test_line_descriptions_use_stripes_wording() -> None:
    moment = at(2026, 1, 6, 23, 59)
    assert format_date(moment) == "6 Jan 2026"
    assert unused_time_description("Starter", moment) == "Unused time on Starter after 6 Jan 2026"
    assert remaining_time_description("Pro", moment) == "Remaining time on Pro after 6 Jan 2026"
