"""Revenue forecasting: MRR and cash for the next months, with prediction intervals, from
the ledger, backtested on the ledger's own history.

**Why a cohort model, not a time series.** One or two years of a SaaS ledger is 12 to 24
monthly MRR totals: too few for ARIMA or exponential smoothing to tell a trend from noise
(a seasonal model needs two full years to see a season twice), and a model of the total
knows nothing of what drives it. The ledger does: who pays now and for how long they have
paid, what each month kept of the MRR of customers of that tenure, how many trials are
running and how trials convert. That is thousands of customer-months instead of a dozen
points, and it gives a forecast an admin can read in the terms they act on (retention,
conversion, sign-ups). The monthly observations are ``domain.growth.forecast_history``'s,
the fitting and the simulation ``domain.growth.forecast_model``'s.

**The model**, fitted on the :data:`FIT_MONTHS` months before the moment it forecasts from
(at least :data:`MIN_HISTORY_MONTHS` months of revenue, else no forecast: the answer says
there is too little history). Month by month ahead:

* *Existing MRR* is carried forward at the **MRR retention** of its tenure bucket (0-2,
  3-11, 12+ months since first revenue): the MRR the bucket's paying customers kept a month
  later, churn, contraction and expansion netted, pooled over the fit months and shrunk
  towards the all-tenure rate so that a thin bucket does not rest on luck. MRR **returns**
  from former customers (resumes, restarts) at its observed share of the paying MRR.
* *New MRR* = conversions x the average MRR a new customer has at the end of its first
  month, plus **direct** new MRR (no trial) at the recent months' average. Conversions of a
  month = the trials started in each of the :data:`MAX_LAG` + 1 months before it x the
  share of a month's trials observed to first pay that many months later: trials already
  running are the **pipeline**, future ones start at the recent months' average.
* *Cash* = what that MRR bills in the month: monthly plans every month, annual plans
  12 x MRR in their renewal month (existing ones on their anniversary, new ones at
  conversion, monthly customers who move onto an annual plan, at the observed rate, at the
  move), times the ratio of invoiced to ledger-scheduled billing over the last
  :data:`RECENT_MONTHS` months (coupons, message packs, prorations, failed renewals; 1
  without invoices). Metered overage is left out of the MRR forecast: it is usage.

**Prediction intervals**: the central :data:`COVERAGE` of :data:`PATHS` simulated paths.
Each path carries the rates' own uncertainty (a bootstrap sample of the fit months, the
conversion shares redrawn as binomial proportions of the trials behind them) and the
month-to-month chance (each month one of its sampled months, weighted by paying MRR, a
recent month's sign-ups, Poisson conversions, the invoiced/scheduled noise of a past
month). The point forecast is the path at the fitted rates with expected conversions.

**Backtest**: from each month of the history with :data:`MIN_HISTORY_MONTHS` months of
revenue before it (the last :data:`MAX_BACKTEST_CUTOFFS`), fit on the months before it only,
forecast up to 12 months and compare with what the ledger replays (MRR) and what was
invoiced (cash; the ledger's schedule without invoices): MAPE per horizon (the mean of
|forecast - actual| / actual, months with an actual of 0 left out) and how often the
interval held the actual, its empirical coverage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from domain.growth.forecast_history import BUCKET_LABELS, RevenueBook
from domain.growth.forecast_model import (
    COVERAGE,
    FittedRates,
    fit,
    project,
)
from domain.reporting.ledger import History, InvoiceRow, LedgerRow
from domain.reporting.periods import utc

MIN_HISTORY_MONTHS = 6
PATHS = 2000
BACKTEST_PATHS = 500
MAX_BACKTEST_CUTOFFS = 24
MAX_MONTHS = 24
HORIZONS = (1, 3, 6, 12)

OK = "ok"
INSUFFICIENT_HISTORY = "insufficient_history"
METHOD = "cohort"
METHOD_DESCRIPTION = (
    "Cohort model from the ledger: the paying MRR carried forward at the monthly MRR "
    "retention observed per tenure bucket (churn, contraction and expansion netted) plus "
    "MRR returning from former customers; new MRR from the trial pipeline (trials started "
    "x the observed share converting 0-3 months later x the average first MRR) and direct "
    "sign-ups, future trials at the recent monthly rate. Cash: monthly plans bill every "
    "month, annual plans 12 x MRR in their renewal month (and at a move onto a yearly "
    "plan), times the recent ratio of invoiced to scheduled billing. Interval: the central "
    "80% of 2,000 simulated paths that resample the past months' rates, sign-ups and "
    "conversions."
)


@dataclass(frozen=True)
class HistoryMonth:
    start: datetime
    end: datetime
    mrr_cents: int
    paying_customers: int
    new_mrr_cents: int
    trial_starts: int
    cash_cents: int
    scheduled_cash_cents: int


@dataclass(frozen=True)
class ForecastMonth:
    horizon: int
    start: datetime
    end: datetime
    mrr_cents: int
    mrr_low_cents: int
    mrr_high_cents: int
    cash_cents: int
    cash_low_cents: int
    cash_high_cents: int
    new_mrr_cents: int
    # Of new_mrr_cents: from trials already running at the forecast's moment.
    pipeline_mrr_cents: int


@dataclass(frozen=True)
class HorizonAccuracy:
    horizon: int
    forecasts: int
    mrr_mape: float | None
    cash_mape: float | None
    mrr_coverage: float | None
    cash_coverage: float | None


@dataclass(frozen=True)
class BacktestPoint:
    """One forecast of the backtest: made at ``cutoff``, ``horizon`` months ahead."""

    cutoff: datetime
    horizon: int
    mrr_cents: int
    mrr_low_cents: int
    mrr_high_cents: int
    actual_mrr_cents: int
    cash_cents: int
    cash_low_cents: int
    cash_high_cents: int
    actual_cash_cents: int


@dataclass(frozen=True)
class Backtest:
    cutoffs: tuple[datetime, ...]
    horizons: tuple[HorizonAccuracy, ...]
    points: tuple[BacktestPoint, ...]
    mrr_coverage: float | None
    cash_coverage: float | None
    note: str


@dataclass(frozen=True)
class RevenueForecast:
    as_of: datetime
    months: int
    status: str
    note: str
    coverage: float
    # "invoices" (the invoice mirror's totals) or "ledger" (the billing the ledger schedules).
    cash_source: str
    history: tuple[HistoryMonth, ...]
    rates: FittedRates | None
    forecast: tuple[ForecastMonth, ...]
    backtest: Backtest
    method: str = METHOD
    method_description: str = METHOD_DESCRIPTION


def forecast_revenue(
    rows: Iterable[LedgerRow],
    invoices: Sequence[InvoiceRow],
    *,
    as_of: datetime,
    months: int = 12,
    seed: int = 0,
) -> RevenueForecast:
    """The forecast for the ``months`` after ``as_of`` from the rows and invoices before it,
    with the backtest on the history; deterministic for a ``seed``."""
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be between 1 and {MAX_MONTHS}")
    as_of = utc(as_of)
    history = History(r for r in rows if utc(r.occurred_at) < as_of)
    book = RevenueBook(history, invoices, as_of)
    cash_source = "invoices" if book.has_invoices else "ledger"
    past = tuple(
        HistoryMonth(
            start=w.start,
            end=w.end,
            mrr_cents=w.mrr_end_cents,
            paying_customers=w.paying_end,
            new_mrr_cents=w.new_cents,
            trial_starts=w.trial_starts,
            cash_cents=_actual_cash(book, i),
            scheduled_cash_cents=w.scheduled_cents,
        )
        for i, w in enumerate(book.windows)
    )
    backtest = _backtest(book, seed)
    available = book.revenue_months(book.months)
    if available < MIN_HISTORY_MONTHS:
        shown = "no revenue yet" if available == 0 else f"{available} month(s) of revenue"
        return RevenueForecast(
            as_of=as_of,
            months=months,
            status=INSUFFICIENT_HISTORY,
            note=f"Too little history to forecast: the ledger has {shown} before "
            f"{as_of:%Y-%m-%d}; the forecast needs at least {MIN_HISTORY_MONTHS} months to "
            "estimate retention, conversion and sign-ups.",
            coverage=COVERAGE,
            cash_source=cash_source,
            history=past,
            rates=None,
            forecast=(),
            backtest=backtest,
        )
    rates, pools = fit(book, book.months)
    projection = project(book, book.months, rates, pools, months, PATHS, seed)
    ahead = tuple(
        ForecastMonth(
            horizon=k,
            start=book.time(book.months + k - 1),
            end=book.time(book.months + k),
            mrr_cents=_cents(projection.mrr[k - 1]),
            mrr_low_cents=_cents(projection.mrr_band[0, k - 1]),
            mrr_high_cents=_cents(projection.mrr_band[1, k - 1]),
            cash_cents=_cents(projection.cash[k - 1]),
            cash_low_cents=_cents(projection.cash_band[0, k - 1]),
            cash_high_cents=_cents(projection.cash_band[1, k - 1]),
            new_mrr_cents=_cents(projection.new[k - 1]),
            pipeline_mrr_cents=_cents(projection.pipeline[k - 1]),
        )
        for k in range(1, months + 1)
    )
    return RevenueForecast(
        as_of=as_of,
        months=months,
        status=OK,
        note=f"Fitted on {rates.fit_months} months of the ledger "
        f"({rates.fit_start:%Y-%m-%d} to {rates.fit_end:%Y-%m-%d}).",
        coverage=COVERAGE,
        cash_source=cash_source,
        history=past,
        rates=rates,
        forecast=ahead,
        backtest=backtest,
    )


def _cents(value: float) -> int:
    return round(float(value))


def _actual_cash(book: RevenueBook, index: int) -> int:
    window = book.windows[index]
    return window.invoiced_cents if book.has_invoices else window.scheduled_cents


# -- fitting ----------------------------------------------------------------------------


# -- backtesting ------------------------------------------------------------------------


def _backtest(book: RevenueBook, seed: int) -> Backtest:
    first = book.first_revenue_window
    earliest = (first or 0) + MIN_HISTORY_MONTHS
    cutoffs = (
        range(max(earliest, book.months - MAX_BACKTEST_CUTOFFS), book.months)
        if first is not None
        else range(0)
    )
    points: list[BacktestPoint] = []
    for cutoff in cutoffs:
        horizon = min(12, book.months - cutoff)
        rates, pools = fit(book, cutoff)
        projection = project(book, cutoff, rates, pools, horizon, BACKTEST_PATHS, seed)
        for h in range(1, horizon + 1):
            points.append(
                BacktestPoint(
                    cutoff=book.grid[cutoff],
                    horizon=h,
                    mrr_cents=_cents(projection.mrr[h - 1]),
                    mrr_low_cents=_cents(projection.mrr_band[0, h - 1]),
                    mrr_high_cents=_cents(projection.mrr_band[1, h - 1]),
                    actual_mrr_cents=book.windows[cutoff + h - 1].mrr_end_cents,
                    cash_cents=_cents(projection.cash[h - 1]),
                    cash_low_cents=_cents(projection.cash_band[0, h - 1]),
                    cash_high_cents=_cents(projection.cash_band[1, h - 1]),
                    actual_cash_cents=_actual_cash(book, cutoff + h - 1),
                )
            )
    mrr = [
        (p.horizon, p.mrr_cents, p.mrr_low_cents, p.mrr_high_cents, p.actual_mrr_cents)
        for p in points
    ]
    cash = [
        (p.horizon, p.cash_cents, p.cash_low_cents, p.cash_high_cents, p.actual_cash_cents)
        for p in points
    ]
    horizons = tuple(
        HorizonAccuracy(
            horizon=h,
            forecasts=sum(1 for p in points if p.horizon == h),
            mrr_mape=_mape(mrr, h),
            cash_mape=_mape(cash, h),
            mrr_coverage=_covered(mrr, h),
            cash_coverage=_covered(cash, h),
        )
        for h in HORIZONS
    )
    if cutoffs:
        note = (
            f"Backtested from {len(cutoffs)} past months ({book.grid[cutoffs[0]]:%Y-%m-%d} to "
            f"{book.grid[cutoffs[-1]]:%Y-%m-%d}), each fitted on the months before it only and "
            "compared with the MRR the ledger replays and the cash "
            + ("invoiced." if book.has_invoices else "the ledger scheduled (no invoices).")
        )
    else:
        have = book.revenue_months(book.months)
        note = (
            "Not backtested: a backtest forecasts from a past month with at least "
            f"{MIN_HISTORY_MONTHS} months of revenue before it and compares with the months "
            f"after, so it needs {MIN_HISTORY_MONTHS + 1} months; the ledger has {have}."
        )
    return Backtest(
        cutoffs=tuple(book.grid[c] for c in cutoffs),
        horizons=horizons,
        points=tuple(points),
        mrr_coverage=_covered(mrr),
        cash_coverage=_covered(cash),
        note=note,
    )


# (horizon, forecast, low, high, actual)
_Scored = tuple[int, int, int, int, int]


def _mape(rows: Sequence[_Scored], horizon: int) -> float | None:
    errors = [abs(f - a) / a for h, f, _, _, a in rows if h == horizon and a > 0]
    return float(np.mean(errors)) if errors else None


def _covered(rows: Sequence[_Scored], horizon: int | None = None) -> float | None:
    chosen = [(low, high, a) for h, _, low, high, a in rows if horizon in (None, h)]
    if not chosen:
        return None
    return sum(1 for low, high, actual in chosen if low <= actual <= high) / len(chosen)


__all__ = [
    "BUCKET_LABELS",
    "COVERAGE",
    "HORIZONS",
    "MAX_MONTHS",
    "MIN_HISTORY_MONTHS",
    "Backtest",
    "BacktestPoint",
    "FittedRates",
    "ForecastMonth",
    "HistoryMonth",
    "HorizonAccuracy",
    "RevenueForecast",
    "forecast_revenue",
]
