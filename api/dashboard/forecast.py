"""HTML of the dashboard's revenue forecast section: the MRR forecast after the actual
MRR, the months ahead with their intervals, and how the model fared on its own history."""

from __future__ import annotations

from html import escape

from api.dashboard.charts import forecast_chart
from api.reports.schemas import ForecastView, HorizonAccuracyView
from domain.emails import format_money


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _backtest_row(h: HorizonAccuracyView) -> str:
    return (
        f"<tr><td>{h.horizon} month{'s' if h.horizon > 1 else ''}</td><td>{h.forecasts}</td>"
        f"<td>{_percent(h.mrr_mape)}</td><td>{_percent(h.cash_mape)}</td>"
        f"<td>{_percent(h.mrr_coverage)}</td><td>{_percent(h.cash_coverage)}</td></tr>"
    )


def forecast_section(view: ForecastView) -> str:
    c = view.currency
    coverage = f"{view.coverage:.0%}"
    head = (
        f'<section id="forecast" data-as-of="{view.as_of.isoformat()}" '
        f'data-status="{escape(view.status)}"><h2>Revenue forecast</h2>'
    )
    backtest = view.backtest
    backtest_table = (
        '<div class="scroll"><table id="forecast-backtest"><thead><tr><th rowspan="2">Ahead</th>'
        '<th rowspan="2">Forecasts</th><th colspan="2">MAPE</th><th colspan="2">In the '
        "interval</th></tr><tr><th>MRR</th><th>Cash</th><th>MRR</th><th>Cash</th></tr></thead>"
        "<tbody>" + "".join(_backtest_row(h) for h in backtest.horizons) + "</tbody></table></div>"
        if backtest.cutoffs
        else ""
    )
    accuracy = (
        f"<h3>Backtest</h3>{backtest_table}"
        f'<p class="note">{escape(backtest.note)}'
        + (
            f" The {coverage} interval held the actual MRR in "
            f"{_percent(backtest.mrr_coverage)} of the backtest's forecasts."
            if backtest.mrr_coverage is not None
            else ""
        )
        + "</p>"
    )
    if not view.forecast:
        return head + f'<p class="empty">{escape(view.note)}</p>{accuracy}</section>'
    rows = "".join(
        f"<tr><td>{m.end:%Y-%m-%d}</td><td>{format_money(m.mrr_cents, c)}</td>"
        f"<td>{format_money(m.mrr_low_cents, c)} to {format_money(m.mrr_high_cents, c)}</td>"
        f"<td>{format_money(m.cash_cents, c)}</td>"
        f"<td>{format_money(m.cash_low_cents, c)} to {format_money(m.cash_high_cents, c)}</td>"
        f"<td>{format_money(m.new_mrr_cents, c)}</td>"
        f"<td>{format_money(m.pipeline_mrr_cents, c)}</td></tr>"
        for m in view.forecast
    )
    return (
        head + f'<p class="note">From {view.as_of:%Y-%m-%d %H:%M} UTC, {view.months} months '
        f"ahead. {escape(view.note)} Cohort model: retention per tenure, the trial pipeline "
        f"and sign-ups; shaded: the {coverage} prediction interval. MRR is recurring (plans "
        "and add-ons); cash is what is billed in the month.</p>"
        f'<div class="grid even"><div>'
        f"{forecast_chart(view.history, view.forecast, c, view.coverage)}</div>"
        f"<div>{accuracy}</div></div>"
        f"<h3>Month by month</h3>"
        f'<div class="scroll"><table id="forecast-months"><tr><th>Month to</th><th>MRR</th>'
        f"<th>MRR {coverage} interval</th><th>Cash</th><th>Cash {coverage} interval</th>"
        f"<th>New MRR</th><th>of which pipeline</th></tr>{rows}</table></div></section>"
    )
