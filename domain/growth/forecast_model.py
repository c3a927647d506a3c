"""The revenue forecast's model (``domain.growth.forecast`` says what it is and why): the
rates fitted on the months before a cutoff, and the simulated paths they give.

* **Fitting** reads only the windows before the cutoff. A tenure bucket's retention is
  pooled over the fit months, weighted by MRR, and shrunk towards the all-tenure rate by
  :data:`PRIOR_CUSTOMER_MONTHS` customer-months of it. Future trials and direct sign-ups
  run at the :data:`RECENT_MONTHS` months' average; the invoiced / scheduled ratio is
  theirs too.
* **Simulating.** MRR is kept per billing group (monthly, or annual renewing in month k of
  the year ahead) and tenure month; each month ahead the groups age at their tenure's
  retention, part of the monthly MRR moves onto annual plans (billed for the year at once),
  former customers return, and trials convert. The point path runs at the fitted rates with
  expected conversions. Each random path first draws the rates' own uncertainty (a
  bootstrap sample of the fit months, a binomial redraw of each conversion share), then,
  month by month, one of its months (weighted by paying MRR) for retention, returning and
  switching, one recent month's sign-ups, a past month's invoiced/scheduled noise, Poisson
  conversions and which of them go annual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from domain.growth.forecast_history import BUCKETS, MAX_LAG, TENURE_CAP, RevenueBook, bucket_of

FIT_MONTHS = 12
RECENT_MONTHS = 3
PRIOR_CUSTOMER_MONTHS = 200
MONTH_PRIOR_CUSTOMERS = 10
COVERAGE = 0.8
# Simulated MRR is kept per billing group (0 = monthly, k = annual renewing in month k,
# k + 12, ...) and tenure month, so renewals bill in the right month and tenure ages.
_GROUPS = 13

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FittedRates:
    """What a forecast was fitted to: monthly rates over the fit window."""

    fit_start: datetime
    fit_end: datetime
    fit_months: int
    # Per tenure bucket (BUCKET_LABELS): MRR kept a month later / MRR at the start.
    retention: tuple[float, ...]
    retention_customer_months: tuple[int, ...]
    returning_rate: float
    # Monthly MRR moving onto annual billing (billed 12 x at the switch) / monthly MRR.
    annual_switch_rate: float
    # Of a month's trials, the share first paying 0, 1, ... MAX_LAG months later.
    conversion_by_lag: tuple[float, ...]
    trial_starts_per_month: float
    mrr_per_conversion_cents: float
    direct_new_mrr_cents: float
    annual_share: float
    cash_ratio: float


@dataclass(frozen=True)
class Pools:
    """The past months a simulated path draws its months from."""

    retention: Floats  # (months, buckets)
    returning: Floats
    switching: Floats
    weights: Floats
    starts: Floats  # recent months
    direct: Floats
    # Trials behind each lag's conversion share (its sampling error).
    conversion_trials: npt.NDArray[np.int64]
    # Each past month's invoiced / scheduled against the fit window's: cash's own noise.
    cash_noise: Floats


@dataclass(frozen=True)
class Projection:
    mrr: Floats  # (horizon,) point
    cash: Floats
    new: Floats
    pipeline: Floats
    mrr_band: Floats  # (2, horizon)
    cash_band: Floats


# -- fitting ----------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float, default: float) -> float:
    return numerator / denominator if denominator > 0 else default


def fit(book: RevenueBook, cutoff: int) -> tuple[FittedRates, Pools]:
    """Rates from the windows before ``cutoff`` only: nothing after it is read."""
    begin = max(cutoff - FIT_MONTHS, book.first_revenue_window or 0)
    windows = book.windows[begin:cutoff]
    base = np.array([w.base_cents for w in windows], dtype=float).reshape(-1, len(BUCKETS))
    kept = np.array([w.kept_cents for w in windows], dtype=float).reshape(-1, len(BUCKETS))
    exposure = np.array([w.base_customers for w in windows], dtype=int).reshape(-1, len(BUCKETS))
    pooled = _ratio(kept.sum(), base.sum(), 1.0)
    # A bucket's rate is shrunk towards the all-tenure rate by PRIOR_CUSTOMER_MONTHS
    # customer-months of it: fifty customer-months without a churn are luck, not customers
    # who never leave, while a bucket of thousands keeps its own rate.
    per_customer = _ratio(base.sum(), exposure.sum(), 0.0)
    prior = PRIOR_CUSTOMER_MONTHS * per_customer
    retention = (kept.sum(axis=0) + prior * pooled) / np.maximum(base.sum(axis=0) + prior, 1.0)
    base_total = base.sum(axis=1)
    returning = np.array([w.returning_cents for w in windows], dtype=float)
    monthly_base = np.array([w.monthly_base_cents for w in windows], dtype=float)
    switched = np.array([w.switched_cents for w in windows], dtype=float)
    # Trials start before the first revenue: their cohorts may predate it.
    cohorts = range(max(cutoff - FIT_MONTHS, 0), cutoff)
    trials = np.array(
        [
            sum(book.windows[i].trial_starts for i in cohorts if i + lag < cutoff)
            for lag in range(MAX_LAG + 1)
        ],
        dtype=np.int64,
    )
    conversion = tuple(
        _ratio(
            sum(book.windows[i].conversions_by_lag[lag] for i in cohorts if i + lag < cutoff),
            float(trials[lag]),
            0.0,
        )
        for lag in range(MAX_LAG + 1)
    )
    recent = book.windows[max(cutoff - RECENT_MONTHS, 0) : cutoff]
    starts = np.array([w.trial_starts for w in recent], dtype=float)
    direct = np.array([w.direct_new_cents for w in recent], dtype=float)
    invoices = book.invoiced_before(cutoff)
    rates = FittedRates(
        fit_start=book.grid[begin],
        fit_end=book.grid[cutoff],
        fit_months=len(windows),
        retention=tuple(float(r) for r in retention),
        retention_customer_months=tuple(int(e) for e in exposure.sum(axis=0)),
        returning_rate=_ratio(float(returning.sum()), float(base_total.sum()), 0.0),
        annual_switch_rate=_ratio(float(switched.sum()), float(monthly_base.sum()), 0.0),
        conversion_by_lag=conversion,
        trial_starts_per_month=float(starts.mean()),
        mrr_per_conversion_cents=_ratio(
            sum(w.trial_new_cents for w in windows),
            sum(w.trial_new_customers for w in windows),
            0.0,
        ),
        direct_new_mrr_cents=float(direct.mean()),
        annual_share=_ratio(
            sum(w.annual_new_cents for w in windows), sum(w.new_cents for w in windows), 0.0
        ),
        cash_ratio=_ratio(
            sum(w.invoiced_cents for w in recent), sum(w.scheduled_cents for w in recent), 1.0
        )
        if invoices
        else 1.0,
    )
    billed = [w for w in windows if w.scheduled_cents > 0]
    overall = _ratio(
        sum(w.invoiced_cents for w in billed), sum(w.scheduled_cents for w in billed), 0.0
    )
    cash_noise = (
        np.array([w.invoiced_cents / w.scheduled_cents / overall for w in billed])
        if invoices and overall > 0
        else np.ones(1)
    )
    paying = base_total > 0
    if not paying.any():
        return rates, Pools(
            retention=retention[None, :],
            returning=np.array([rates.returning_rate]),
            switching=np.array([rates.annual_switch_rate]),
            weights=np.ones(1),
            starts=starts,
            direct=direct,
            conversion_trials=trials,
            cash_noise=cash_noise,
        )
    # So is a month's rate of a bucket with few customers (three customers keep 100 % or
    # 67 %): each month is shrunk towards its bucket's rate by MONTH_PRIOR_CUSTOMERS.
    month_prior = MONTH_PRIOR_CUSTOMERS * per_customer
    monthly = ((kept + month_prior * retention) / np.maximum(base + month_prior, 1.0))[paying]
    return rates, Pools(
        retention=monthly,
        returning=returning[paying] / base_total[paying],
        switching=np.where(monthly_base > 0, switched / np.maximum(monthly_base, 1.0), 0.0)[paying],
        weights=base_total[paying] / base_total[paying].sum(),
        starts=starts,
        direct=direct,
        conversion_trials=trials,
        cash_noise=cash_noise,
    )


# -- simulating -------------------------------------------------------------------------


def project(
    book: RevenueBook,
    cutoff: int,
    rates: FittedRates,
    pools: Pools,
    horizon: int,
    paths: int,
    seed: int,
) -> Projection:
    point = _simulate(book, cutoff, rates, pools, horizon, None, 1)
    rng = np.random.default_rng([seed, cutoff])
    spread = _simulate(book, cutoff, rates, pools, horizon, rng, paths)
    tail = (1 - COVERAGE) / 2
    return Projection(
        mrr=point[0][0],
        cash=point[1][0],
        new=point[2][0],
        pipeline=point[3][0],
        mrr_band=np.quantile(spread[0], [tail, 1 - tail], axis=0),
        cash_band=np.quantile(spread[1], [tail, 1 - tail], axis=0),
    )


def _initial_state(book: RevenueBook, cutoff: int) -> Floats:
    state = np.zeros((_GROUPS, TENURE_CAP + 1))
    for customer in book.paying_at(cutoff):
        group = 0
        if customer.renews_at is not None:
            group = min(max(book.window_of(customer.renews_at) - cutoff + 1, 1), 12)
        state[group, min(customer.tenure, TENURE_CAP)] += customer.mrr_cents
    return state


def _simulate(
    book: RevenueBook,
    cutoff: int,
    rates: FittedRates,
    pools: Pools,
    horizon: int,
    rng: np.random.Generator | None,
    paths: int,
) -> tuple[Floats, Floats, Floats, Floats]:
    """MRR, cash, new and pipeline MRR per path and month ahead (``rng`` None: the one
    path at the pooled rates, conversions at their expectation)."""
    tenure_bucket = np.array([bucket_of(t) for t in range(TENURE_CAP + 1)])
    lags = np.array(rates.conversion_by_lag)[None, :]
    share = rates.annual_share
    state = np.repeat(_initial_state(book, cutoff)[None], paths, axis=0)
    # Trial starts per cohort month: the MAX_LAG known ones, then one per month ahead.
    starts = np.zeros((paths, MAX_LAG + horizon))
    for lag in range(MAX_LAG):
        index = cutoff - MAX_LAG + lag
        starts[:, lag] = book.windows[index].trial_starts if index >= 0 else 0
    rows = np.arange(paths)
    if rng is not None:
        # The rates' own uncertainty, fixed per path: a bootstrap sample of the past months
        # (each month then drawn from it, weighted by its paying MRR) and a resampled
        # conversion share per lag. Month-to-month variation comes on top.
        sample = rng.choice(len(pools.weights), size=(paths, len(pools.weights)))
        cumulative = np.cumsum(pools.weights[sample], axis=1)
        trials = pools.conversion_trials[None, :]
        lags = rng.binomial(np.repeat(trials, paths, axis=0), lags) / np.maximum(trials, 1)
    out = np.zeros((4, paths, horizon))
    for k in range(1, horizon + 1):
        if rng is None:
            retention = np.array(rates.retention)[None, :]
            returning = np.array([rates.returning_rate])
            switching = np.array([rates.annual_switch_rate])
            starts[:, MAX_LAG + k - 1] = rates.trial_starts_per_month
            direct = np.array([rates.direct_new_mrr_cents])
            noise = np.ones(1)
        else:
            drawn = rng.random(paths) * cumulative[:, -1]
            month = sample[rows, (cumulative < drawn[:, None]).sum(axis=1)]
            retention, returning = pools.retention[month], pools.returning[month]
            switching = pools.switching[month]
            recent = rng.integers(len(pools.starts), size=paths)
            starts[:, MAX_LAG + k - 1] = pools.starts[recent]
            direct = pools.direct[recent]
            noise = pools.cash_noise[rng.integers(len(pools.cash_noise), size=paths)]
        columns = MAX_LAG + k - 1 - np.arange(MAX_LAG + 1)
        expected = (starts[:, columns] * lags).sum(axis=1)
        running = (starts[:, columns] * lags * (columns < MAX_LAG)).sum(axis=1)
        if rng is None:
            conversions, yearly = expected, expected * share
        else:
            # Each conversion is a customer: how many come and which go annual are chances.
            counts = rng.poisson(expected)
            conversions, yearly = counts.astype(float), rng.binomial(counts, share).astype(float)
        new_annual = yearly * rates.mrr_per_conversion_cents
        new_monthly = (conversions - yearly) * rates.mrr_per_conversion_cents + direct
        new = new_monthly + new_annual
        begin = state
        kept = begin * retention[:, tenure_bucket][:, None, :]
        # A bill falls somewhere in the month: half the MRR that leaves during it is billed.
        monthly = 0.5 * (begin[:, 0].sum(axis=1) + kept[:, 0].sum(axis=1))
        phase = (k - 1) % 12 + 1
        # Moving onto an annual plan bills the year now and renews in this month's phase.
        moved = kept[:, 0] * switching[:, None]
        kept[:, 0] -= moved
        kept[:, phase] += moved
        state = np.zeros_like(kept)
        state[:, :, 1:] = kept[:, :, :-1]
        state[:, :, -1] += kept[:, :, -1]
        back = returning * begin.sum(axis=(1, 2))
        state[:, 0, -1] += back
        state[:, 0, 0] += new_monthly
        state[:, phase, 0] += new_annual
        renewing = begin[:, phase].sum(axis=1)
        annual = 12 * (0.5 * (renewing + kept[:, phase].sum(axis=1) - moved.sum(axis=1)))
        billed = monthly + back + new_monthly + annual + 12 * (moved.sum(axis=1) + new_annual)
        out[0, :, k - 1] = state.sum(axis=(1, 2))
        out[1, :, k - 1] = rates.cash_ratio * noise * billed
        out[2, :, k - 1] = new
        out[3, :, k - 1] = running * rates.mrr_per_conversion_cents
    return out[0], out[1], out[2], out[3]
