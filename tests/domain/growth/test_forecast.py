"""domain/growth/forecast.py (and the monthly observations of forecast_history.py) on
ledgers with a known answer:

* the scripted ten-customer history of tests/factories/reporting.py, its monthly figures
  worked out by hand below;
* a book that cannot move (no churn, no trials): the forecast is exact, annual renewals
  bill in their anniversary month;
* generated ledgers with a planted trend (tests/factories/forecast.py): steady sign-ups and
  constant churn, growing or, after a slowdown, declining; the forecast must follow the
  planted recursion within its interval and the backtest must be accurate.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.growth.forecast import (
    COVERAGE,
    HORIZONS,
    INSUFFICIENT_HISTORY,
    MIN_HISTORY_MONTHS,
    OK,
    RevenueForecast,
    forecast_revenue,
)
from domain.growth.forecast_history import RevenueBook
from domain.months import add_months
from domain.reporting.ledger import History, LedgerRow
from tests.factories.forecast import (
    Planted,
    paying_customer,
    planted_growth,
    switch_to_annual,
)
from tests.factories.reporting import END, LETTERS, scripted_history

# -- the monthly observations, by hand ----------------------------------------------------


def test_the_book_of_the_scripted_history() -> None:
    """Windows are calendar months here (as_of is a first of the month, 00:00 UTC).

    Jan: base A 2,900 (kept); new B 9,900, C 8,415 (annual), D 2,900, E 9,900, F 2,900 =
    34,015, all converted within the month of their trial; billed: A's renewal, the five
    first invoices (C's year: 100,980) = 129,480, as invoiced.
    Feb: base A, B, C, D, E, F = 36,915, of it monthly 28,500; at its end A 9,900 (upgraded),
    B 9,900, C 9,265 (an add-on), D 0 (dunning), E 9,900, F 0 (paused) = 38,965; new G
    2,900; trials G, H, J: G pays in February (lag 0), J in March (lag 1). Scheduled: A
    9,900 (its renewal, after the upgrade; prorations are left out), B 9,900, D 2,900 (its
    failed renewal), E 9,900, G 2,900 = 35,500; invoiced: A's proration 4,750, B 9,900,
    C's add-on 9,350, D 2,900 (uncollectible is billed), E 9,900, G 2,320 (coupon) = 39,120.
    Mar: base A, B, C, E, G = 41,865, kept A 9,900 + B 2,900 (downgrade) + C 9,265 + E 0 +
    G 2,900 = 24,965; F returns with 2,900; J new 9,900. E's renewal is its cancellation
    time: not billed. Scheduled = invoiced = 28,500.
    Apr: A has paid since Dec 10: tenure 3, the 3-11 bucket.
    """
    script = scripted_history({letter: letter for letter in LETTERS})
    book = RevenueBook(History(script.rows), script.invoices, END)
    assert book.months == 5
    assert book.grid[0] == datetime(2025, 12, 1, tzinfo=UTC)
    assert book.first_revenue_window == 0
    dec, jan, feb, mar, apr = book.windows
    assert [w.mrr_end_cents for w in book.windows] == [2900, 36915, 41865, 37765, 37765]
    assert [w.trial_starts for w in book.windows] == [1, 5, 3, 0, 1]
    assert (jan.base_cents, jan.kept_cents) == ([2900, 0, 0], [2900, 0, 0])
    assert (jan.trial_new_customers, jan.trial_new_cents, jan.annual_new_cents) == (5, 34015, 8415)
    assert (jan.scheduled_cents, jan.invoiced_cents) == (129480, 129480)
    assert (feb.base_customers, feb.base_cents, feb.kept_cents) == (
        [6, 0, 0],
        [36915, 0, 0],
        [38965, 0, 0],
    )
    assert feb.monthly_base_cents == 28500
    assert (feb.trial_new_customers, feb.trial_new_cents) == (1, 2900)
    assert feb.conversions_by_lag == [1, 1, 0, 0]
    assert (feb.scheduled_cents, feb.invoiced_cents) == (35500, 39120)
    assert (mar.base_cents[0], mar.kept_cents[0], mar.returning_cents) == (41865, 24965, 2900)
    assert (mar.trial_new_cents, mar.scheduled_cents, mar.invoiced_cents) == (9900, 28500, 28500)
    assert (apr.base_cents, apr.base_customers) == ([27865, 9900, 0], [5, 1, 0])
    # The message pack is billed (invoiced) but scheduled by no plan.
    assert (apr.scheduled_cents, apr.invoiced_cents) == (28500, 29500)
    assert dec.direct_new_cents == jan.direct_new_cents == 0
    paying = {(p.mrr_cents, p.tenure, p.annual, p.renews_at) for p in book.paying_at(5)}
    assert paying == {
        (9900, 4, False, None),  # A
        (2900, 3, False, None),  # B, past due
        (9265, 3, True, datetime(2027, 1, 15, 12, tzinfo=UTC)),  # C, a year after it paid
        (2900, 3, False, None),  # F
        (2900, 2, False, None),  # G
        (9900, 1, False, None),  # J
    }


def test_five_months_of_revenue_is_too_little_history() -> None:
    script = scripted_history({letter: letter for letter in LETTERS})
    result = forecast_revenue(script.rows, script.invoices, as_of=END)
    assert result.status == INSUFFICIENT_HISTORY
    assert result.forecast == () and result.rates is None
    assert "Too little history" in result.note and "5 month(s) of revenue" in result.note
    assert f"at least {MIN_HISTORY_MONTHS} months" in result.note
    assert result.backtest.cutoffs == () and result.backtest.note.startswith("Not backtested")
    assert [h.forecasts for h in result.backtest.horizons] == [0] * len(HORIZONS)
    assert all(h.mrr_mape is None for h in result.backtest.horizons)
    # The history it read is still there to look at.
    assert [m.mrr_cents for m in result.history] == [2900, 36915, 41865, 37765, 37765]
    assert result.cash_source == "invoices"


def test_an_empty_ledger_has_no_revenue_yet() -> None:
    result = forecast_revenue([], [], as_of=END)
    assert result.status == INSUFFICIENT_HISTORY
    assert "no revenue yet" in result.note
    assert result.history == () and result.cash_source == "ledger"


@pytest.mark.parametrize("months", [0, 25])
def test_months_out_of_range_are_refused(months: int) -> None:
    with pytest.raises(ValueError, match="months"):
        forecast_revenue([], [], as_of=END, months=months)


# -- a book that cannot move ------------------------------------------------------------

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def _steady() -> list[LedgerRow]:
    """Twenty monthly customers at 4,900 since 2025-01-15, one annual customer at 8,415
    since 2025-04-10; nobody churns, nobody new."""
    rows = [
        row
        for n in range(20)
        for row in paying_customer(f"m{n:02d}", datetime(2025, 1, 15, 9, tzinfo=UTC), 4900)
    ]
    rows += paying_customer("yearly", datetime(2025, 4, 10, 9, tzinfo=UTC), 8415, "year")
    return rows


def test_a_steady_book_forecasts_exactly_with_the_renewal_in_its_month() -> None:
    result = forecast_revenue(_steady(), [], as_of=AS_OF)
    assert result.status == OK and result.cash_source == "ledger"
    assert result.rates is not None
    assert result.rates.retention == (1.0, 1.0, 1.0)
    assert result.rates.trial_starts_per_month == 0 and result.rates.annual_switch_rate == 0
    # Twelve months of history: the window of the first conversions opens it.
    assert [m.end for m in result.history][-1] == AS_OF and len(result.history) == 12
    assert result.history[3].scheduled_cash_cents == 98000 + 100980  # April: the first year
    assert [m.mrr_cents for m in result.forecast] == [106415] * 12
    cash = [m.cash_cents for m in result.forecast]
    # The annual customer renews on April 10: the fourth month from January 1.
    assert cash == [98000] * 3 + [98000 + 12 * 8415] + [98000] * 8
    # Nothing is uncertain: every simulated path is the point forecast.
    for month in result.forecast:
        assert month.mrr_low_cents == month.mrr_cents == month.mrr_high_cents
        assert month.cash_low_cents == month.cash_cents == month.cash_high_cents
    assert [m.start for m in result.forecast][:2] == [AS_OF, datetime(2026, 2, 1, tzinfo=UTC)]


def test_a_move_onto_an_annual_plan_is_a_switch_billed_for_the_year() -> None:
    # m00 moves onto the yearly plan on 2025-09-05, at the same 4,900 a month (a cheaper
    # year would be a contraction as well).
    rows = [*_steady(), switch_to_annual("m00", datetime(2025, 9, 5, 9, tzinfo=UTC), 0)]
    book = RevenueBook(History(rows), [], AS_OF)
    september = book.windows[8]
    assert september.start == datetime(2025, 9, 1, tzinfo=UTC)
    assert september.switched_cents == 4900
    assert september.scheduled_cents == 19 * 4900 + 12 * 4900
    result = forecast_revenue(rows, [], as_of=AS_OF)
    assert result.rates is not None
    monthly = sum(w.monthly_base_cents for w in book.windows)
    assert result.rates.annual_switch_rate == pytest.approx(4900 / monthly)
    assert result.rates.retention == (1.0, 1.0, 1.0)
    # MRR does not change by switching; cash gains the year billed at each switch (a share
    # of the monthly MRR each month, on top of its month; the unused month's credit is
    # left to the invoiced/scheduled ratio), and September's switcher renews in month 9.
    assert [m.mrr_cents for m in result.forecast] == [106415] * 12
    moving = result.rates.annual_switch_rate * 19 * 4900
    first = result.forecast[0]
    assert first.cash_cents == pytest.approx(19 * 4900 + 12 * moving, abs=1)
    assert result.forecast[8].cash_cents > result.forecast[7].cash_cents + 12 * 4900 * 0.9


# -- planted trends ----------------------------------------------------------------------


def _within_the_trend(planted: Planted, result: RevenueForecast) -> None:
    """Every month ahead: the planted recursion, carried from the actual MRR at the
    forecast's moment, lies inside the interval, and the interval says something (within
    15 % of the point a year out, 4 % a month out)."""
    start = planted.mrr_at(result.as_of)
    for month in result.forecast:
        expected = planted.expected_mrr(start, month.horizon)
        assert month.mrr_low_cents <= month.mrr_cents <= month.mrr_high_cents
        assert month.mrr_low_cents <= expected <= month.mrr_high_cents, month
        assert month.mrr_cents == pytest.approx(expected, rel=0.08), month
        half_width = (month.mrr_high_cents - month.mrr_low_cents) / 2 / month.mrr_cents
        assert half_width < (0.04 if month.horizon == 1 else 0.15), month


def test_the_forecast_follows_a_planted_growth_trend() -> None:
    # 80 trials a month, half convert, 4 % churn a month: MRR climbs towards 4.9M cents.
    planted = planted_growth(trials=80)
    as_of = add_months(planted.start, 24)
    result = forecast_revenue(planted.rows, planted.invoices, as_of=as_of)
    assert result.status == OK and result.months == 12 and len(result.forecast) == 12
    rates = result.rates
    assert rates is not None
    # The planted rates come back out of the ledger.
    for rate in rates.retention:
        assert rate == pytest.approx(1 - planted.churn, abs=0.015)
    assert sum(rates.conversion_by_lag) == pytest.approx(planted.conversion, abs=0.05)
    assert rates.trial_starts_per_month == planted.trials
    assert rates.mrr_per_conversion_cents == pytest.approx(planted.price, rel=0.04)
    assert rates.returning_rate == 0 and rates.annual_share == 0
    assert rates.cash_ratio == pytest.approx(1, abs=0.03)
    _within_the_trend(planted, result)
    points = [m.mrr_cents for m in result.forecast]
    assert points == sorted(points) and points[0] > planted.mrr_at(as_of)
    # Monthly plans only: each month bills about its MRR.
    for month in result.forecast:
        assert month.cash_cents == pytest.approx(month.mrr_cents, rel=0.05)
    # Trials running at the forecast's moment convert in its first month only (14 days).
    assert result.forecast[0].pipeline_mrr_cents > 0
    assert all(m.pipeline_mrr_cents == 0 for m in result.forecast[1:])


def test_the_forecast_follows_a_planted_decline() -> None:
    # Sign-ups drop from 80 to 20 a month at month 12: MRR falls towards 1.2M cents.
    planted = planted_growth(trials=80, slowdown=12, slowdown_trials=20)
    as_of = add_months(planted.start, 24)
    result = forecast_revenue(planted.rows, planted.invoices, as_of=as_of)
    assert result.rates is not None and result.rates.trial_starts_per_month == 20
    _within_the_trend(planted, result)
    points = [m.mrr_cents for m in result.forecast]
    assert points == sorted(points, reverse=True) and points[0] < planted.mrr_at(as_of)


def test_the_backtest_of_a_planted_history_is_accurate() -> None:
    planted = planted_growth(trials=80)
    result = forecast_revenue(planted.rows, planted.invoices, as_of=planted.end)
    backtest = result.backtest
    # 36 months: forecasts from the last 24 months, the first with 12 months behind it.
    assert len(backtest.cutoffs) == 24
    assert backtest.cutoffs[0] == add_months(planted.start, 12)
    assert backtest.cutoffs[-1] == add_months(planted.start, 35)
    by_horizon = {h.horizon: h for h in backtest.horizons}
    assert [by_horizon[h].forecasts for h in HORIZONS] == [24, 22, 19, 13]
    limits = {1: 0.02, 3: 0.04, 6: 0.06, 12: 0.10}
    for horizon, limit in limits.items():
        accuracy = by_horizon[horizon]
        assert accuracy.mrr_mape is not None and accuracy.mrr_mape < limit, accuracy
        assert accuracy.cash_mape is not None and accuracy.cash_mape < limit, accuracy
    # The intervals hold about as often as they say.
    assert backtest.mrr_coverage is not None and backtest.cash_coverage is not None
    assert abs(backtest.mrr_coverage - COVERAGE) < 0.2
    assert abs(backtest.cash_coverage - COVERAGE) < 0.2
    assert "24 past months" in backtest.note and "cash invoiced" in backtest.note


def test_a_backtest_forecast_sees_nothing_after_its_cutoff() -> None:
    """Each backtest forecast is the forecast made with the ledger cut at its moment."""
    planted = planted_growth(months=30, trials=40, annual=0.25)
    result = forecast_revenue(planted.rows, planted.invoices, as_of=planted.end)
    cutoff = result.backtest.cutoffs[3]
    made_then = forecast_revenue(
        [r for r in planted.rows if r.occurred_at < cutoff],
        [i for i in planted.invoices if i.created_at < cutoff],
        as_of=cutoff,
    )
    points = [p for p in result.backtest.points if p.cutoff == cutoff]
    assert [p.mrr_cents for p in points] == [m.mrr_cents for m in made_then.forecast]
    assert [p.cash_cents for p in points] == [m.cash_cents for m in made_then.forecast]
    assert [p.actual_mrr_cents for p in points] == [
        planted.mrr_at(m.end) for m in made_then.forecast
    ]
    # And the live forecast ignores whatever lies after its moment.
    assert forecast_revenue(planted.rows, planted.invoices, as_of=cutoff) == made_then


def test_annual_plans_make_cash_lumpy_around_the_mrr() -> None:
    planted = planted_growth(trials=80, annual=0.3)
    result = forecast_revenue(planted.rows, planted.invoices, as_of=add_months(planted.start, 24))
    assert result.rates is not None
    assert result.rates.annual_share == pytest.approx(0.3, abs=0.05)
    _within_the_trend(planted, result)
    # A year billed up front: over the year, cash runs above the MRR, and which month the
    # annual sign-ups and renewals land in makes it less certain.
    ahead = result.forecast
    assert sum(m.cash_cents for m in ahead) > sum(m.mrr_cents for m in ahead)
    assert sum(m.cash_high_cents - m.cash_low_cents for m in ahead) > sum(
        m.mrr_high_cents - m.mrr_low_cents for m in ahead
    )


def test_the_forecast_is_repeatable() -> None:
    planted = planted_growth(months=14)
    first = forecast_revenue(planted.rows, planted.invoices, as_of=planted.end, months=3)
    again = forecast_revenue(planted.rows, planted.invoices, as_of=planted.end, months=3)
    assert first == again
    assert len(first.forecast) == 3 and first.forecast[-1].horizon == 3
