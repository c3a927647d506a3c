"""The revenue forecast's use case: the ledger and invoices before a moment, read once and
handed to ``domain.growth.forecast``, and its response body."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from api.context import AppContext
from api.errors import FieldError, Problem
from api.reports.schemas import (
    ForecastBacktestView,
    ForecastHistoryMonthView,
    ForecastMonthView,
    ForecastRatesView,
    ForecastView,
    HorizonAccuracyView,
    TenureRetentionView,
)
from api.reports.service import EARLIEST, LATEST
from db.reporting import load_reporting_data
from domain.growth.forecast import BUCKET_LABELS, RevenueForecast, forecast_revenue
from domain.reporting.periods import utc


def _moment(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    try:
        moment = utc(as_of)
    except OverflowError:
        moment = None  # a zone offset pushes it past year 1 or 9999
    if moment is None or not EARLIEST <= moment <= LATEST:
        message = f"must lie between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}"
        raise Problem(
            422,
            f"as_of: {message}",
            type="validation-error",
            errors=[FieldError("as_of", message)],
        )
    return moment


async def build_forecast(
    context: AppContext, *, months: int, as_of: datetime | None
) -> RevenueForecast:
    moment = _moment(as_of)
    async with context.sessions() as session:
        data = await load_reporting_data(session, end=moment)
    return await run_in_threadpool(
        forecast_revenue, data.ledger, data.invoices, as_of=moment, months=months
    )


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def forecast_view(forecast: RevenueForecast, *, currency: str) -> ForecastView:
    rates = forecast.rates
    backtest = forecast.backtest
    return ForecastView(
        as_of=forecast.as_of,
        months=forecast.months,
        currency=currency,
        status=forecast.status,
        note=forecast.note,
        method=forecast.method,
        method_description=forecast.method_description,
        coverage=forecast.coverage,
        cash_source=forecast.cash_source,
        forecast=[
            ForecastMonthView(
                horizon=m.horizon,
                start=m.start,
                end=m.end,
                mrr_cents=m.mrr_cents,
                mrr_low_cents=m.mrr_low_cents,
                mrr_high_cents=m.mrr_high_cents,
                cash_cents=m.cash_cents,
                cash_low_cents=m.cash_low_cents,
                cash_high_cents=m.cash_high_cents,
                new_mrr_cents=m.new_mrr_cents,
                pipeline_mrr_cents=m.pipeline_mrr_cents,
            )
            for m in forecast.forecast
        ],
        rates=None
        if rates is None
        else ForecastRatesView(
            fit_from=rates.fit_start,
            fit_to=rates.fit_end,
            fit_months=rates.fit_months,
            retention=[
                TenureRetentionView(tenure=label, rate=round(rate, 4), customer_months=exposure)
                for label, rate, exposure in zip(
                    BUCKET_LABELS, rates.retention, rates.retention_customer_months, strict=True
                )
            ],
            returning_rate=round(rates.returning_rate, 4),
            conversion_by_lag=[round(r, 4) for r in rates.conversion_by_lag],
            trial_starts_per_month=round(rates.trial_starts_per_month, 2),
            mrr_per_conversion_cents=round(rates.mrr_per_conversion_cents),
            direct_new_mrr_cents=round(rates.direct_new_mrr_cents),
            annual_share=round(rates.annual_share, 4),
            cash_ratio=round(rates.cash_ratio, 4),
        ),
        backtest=ForecastBacktestView(
            note=backtest.note,
            cutoffs=list(backtest.cutoffs),
            horizons=[
                HorizonAccuracyView(
                    horizon=h.horizon,
                    forecasts=h.forecasts,
                    mrr_mape=_rate(h.mrr_mape),
                    cash_mape=_rate(h.cash_mape),
                    mrr_coverage=_rate(h.mrr_coverage),
                    cash_coverage=_rate(h.cash_coverage),
                )
                for h in backtest.horizons
            ],
            mrr_coverage=_rate(backtest.mrr_coverage),
            cash_coverage=_rate(backtest.cash_coverage),
        ),
        history=[
            ForecastHistoryMonthView(
                start=m.start,
                end=m.end,
                mrr_cents=m.mrr_cents,
                paying_customers=m.paying_customers,
                new_mrr_cents=m.new_mrr_cents,
                trial_starts=m.trial_starts,
                cash_cents=m.cash_cents,
                scheduled_cash_cents=m.scheduled_cash_cents,
            )
            for m in forecast.history
        ],
    )
