"""`lifecycle report mrr`: revenue reports from the ledger; `lifecycle report competitive`:
our plans against the competitors in the config; `lifecycle report forecast`: MRR and cash
ahead, with the forecast's backtest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lifecycle.options import ConfigOption, load_settings

if TYPE_CHECKING:
    from api.reports.schemas import CompetitiveView, ForecastView


report_app = typer.Typer(
    help="Revenue reports from the ledger (the figures of GET /v1/admin/metrics), the "
    "competitive pricing comparison (GET /v1/admin/reports/competitive) and the revenue "
    "forecast (GET /v1/admin/reports/forecast).",
    no_args_is_help=True,
)

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]


# The range of the ledger reports, as GET /v1/admin/metrics takes it.
FromOption = Annotated[
    datetime | None,
    typer.Option(
        "--from",
        formats=DATE_FORMATS,
        help="Range start, inclusive (UTC). Default: --to - 12 months.",
    ),
]
ToOption = Annotated[
    datetime | None,
    typer.Option("--to", formats=DATE_FORMATS, help="Range end, exclusive (UTC). Default: now."),
]


def _money(cents: int | None, currency: str, *, sign: bool = False) -> str:
    if cents is None:
        return "n/a"
    prefix = "-" if cents < 0 else "+" if sign and cents > 0 else ""
    amount = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    if currency.lower() == "usd":
        return f"{prefix}${amount}"
    return f"{prefix}{amount} {currency.upper()}"


def percent(rate: Any) -> str:
    return "n/a" if rate is None else f"{rate * 100:.2f}%"


@report_app.command("mrr")
def report_mrr(
    start: FromOption = None,
    end: ToOption = None,
    plan: Annotated[
        str | None, typer.Option(help="Only customers on this plan at the time.")
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="Only customers billed monthly (month) or yearly (year).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON body of GET /v1/admin/metrics.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """MRR, ARR, movements, customers, churn, ARPU and LTV for a range (DATABASE_URL)."""
    from api.reports.service import metrics_view
    from db.engine import create_engine, session_factory
    from domain.months import add_months
    from domain.reporting.constant_rates import ConstantRateInputs
    from domain.reporting.currencies import NoRate
    from domain.reporting.ledger import MOVEMENT_TYPES, STATUSES
    from domain.reporting.periods import utc
    from domain.reporting.report import Report, compute_report
    from services import fx

    settings = load_settings(config)
    catalog = settings.engine_config.catalog
    until = utc(end) if end is not None else datetime.now(UTC)
    since = utc(start) if start is not None else add_months(until, -12)
    if since >= until:
        raise typer.BadParameter("must be before --to", param_hint="--from")
    if plan is not None and plan not in catalog.plans:
        raise typer.BadParameter(
            f"unknown plan {plan!r} (plans: {', '.join(sorted(catalog.plans))})",
            param_hint="--plan",
        )
    if interval is not None and interval not in ("month", "year"):
        raise typer.BadParameter("must be month or year", param_hint="--interval")

    async def main() -> tuple[Report, ConstantRateInputs]:
        engine = create_engine(settings.database_url)
        try:
            inputs = await fx.report_inputs(
                settings.engine_config, session_factory(engine), end=until
            )
        finally:
            await engine.dispose()
        report = compute_report(
            inputs.ledger, inputs.invoices, start=since, end=until, plan=plan, interval=interval
        )
        return report, inputs

    try:
        report, inputs = asyncio.run(main())
    except NoRate as exc:
        raise typer.BadParameter(f"{exc} (load rates: `lifecycle fx load`)") from None
    currency = inputs.currency
    if as_json:
        view = metrics_view(report, currency=currency, rates=inputs.rates, tax=inputs.tax)
        typer.echo(view.model_dump_json(by_alias=True, indent=2))
        return

    def money(cents: int | None, *, sign: bool = False) -> str:
        return _money(cents, currency, sign=sign)

    out = typer.echo
    moves = report.movements
    funnel = report.funnel.counts
    churn = report.churn
    out(
        f"MRR report {since:%Y-%m-%d %H:%M} .. {until:%Y-%m-%d %H:%M} UTC (to exclusive)"
        f"   plan: {plan or 'all'}   interval: {interval or 'all'}   net of tax"
    )
    out("")
    out(
        f"  {'MRR':<14}{money(report.mrr_cents):>16}   recurring "
        f"{money(report.recurring_mrr_cents)} + overage {money(report.overage_mrr_cents)}"
    )
    out(f"  {'ARR':<14}{money(report.arr_cents):>16}")
    out(
        f"  {'ARPU':<14}{money(report.arpu_cents):>16}   {report.paying_customers} paying customers"
    )
    out(f"  {'LTV':<14}{money(report.ltv_cents):>16}   ARPU / monthly revenue churn")
    out("")
    out("Customers at the end of the range")
    out("  " + "   ".join(f"{s} {report.status_counts.get(s, 0)}" for s in STATUSES))
    out("")
    out(f"MRR movements {'':<12}{'amount':>16}  customers")
    out(f"  {'starting MRR':<24}{money(moves.starting_mrr_cents):>16}")
    for kind in MOVEMENT_TYPES:
        total = moves.totals[kind]
        out(f"  {kind.value:<24}{money(total.cents, sign=True):>16}  {len(total.customers):>9}")
    out(f"  {'net':<24}{money(moves.net_cents, sign=True):>16}")
    if moves.transfer_in_cents or moves.transfer_out_cents:
        out(f"  {'moved into the segment':<24}{money(moves.transfer_in_cents, sign=True):>16}")
        out(f"  {'moved out of the segment':<24}{money(-moves.transfer_out_cents, sign=True):>16}")
    out(f"  {'ending MRR':<24}{money(moves.ending_mrr_cents):>16}")
    out("")
    out("Trial funnel (trials started in the range)")
    out(
        f"  started {funnel.started}   converted {funnel.converted} (within the trial "
        f"{funnel.converted_within_trial}, after expiry {funnel.converted_after_expiry}, "
        f"via win-back {funnel.converted_via_winback})   expired {funnel.expired}   "
        f"still trialing {funnel.in_trial}"
    )
    days = funnel.median_days_to_convert
    out(
        f"  conversion {percent(funnel.conversion_rate)}   median days to convert "
        f"{'n/a' if days is None else days}"
    )
    out("")
    out("Churn (monthly)")
    out(
        f"  logo {percent(churn.logo_churn_rate)}   revenue "
        f"{percent(churn.revenue_churn_rate)}   voluntary {churn.voluntary_churned_customers} "
        f"({money(churn.voluntary_churned_mrr_cents)})   involuntary "
        f"{churn.involuntary_churned_customers} ({money(churn.involuntary_churned_mrr_cents)})"
        f"   dunning recovery {percent(churn.dunning_recovery_rate)}"
    )
    out("")
    header = ["month", "MRR", *(t.value for t in MOVEMENT_TYPES), "logo churn", "rev churn"]
    widths = [7, 14, 13, 13, 13, 13, 13, 10, 10]
    out("  " + " ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for point, month in zip(report.mrr_series, churn.months, strict=True):
        cells = [
            point.month,
            money(point.mrr_cents),
            *(money(point.movements[t], sign=True) for t in MOVEMENT_TYPES),
            percent(month.logo_churn_rate),
            percent(month.revenue_churn_rate),
        ]
        out("  " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))


def _usage_option(metric: str) -> Any:
    return typer.Option(min=0, help=f"{metric} per month in the usage profile.")


@report_app.command("competitive")
def report_competitive(
    chatbots: Annotated[int | None, _usage_option("Chatbots")] = None,
    messages: Annotated[int | None, _usage_option("Messages")] = None,
    tokens: Annotated[int | None, _usage_option("Tokens")] = None,
    api_calls: Annotated[int | None, _usage_option("API calls")] = None,
    interval: Annotated[
        str, typer.Option(help="Compare plans billed monthly (month) or yearly (year).")
    ] = "month",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the JSON body of GET /v1/admin/reports/competitive."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Our plans against the competitors in the config: price per unit of each metric, and
    what a usage costs per month on each side (without usage options: small, medium and
    large profiles from our plans' limits)."""
    from api.reports.service import competitive_view
    from domain.growth.competitive import MAX_USAGE
    from domain.lifecycle import BillingInterval

    usage = {"chatbots": chatbots, "messages": messages, "tokens": tokens, "api_calls": api_calls}
    for metric, quantity in usage.items():
        if quantity is not None and quantity > MAX_USAGE:
            raise typer.BadParameter(
                f"must be at most {MAX_USAGE}", param_hint=f"--{metric.replace('_', '-')}"
            )
    if interval not in ("month", "year"):
        raise typer.BadParameter("must be month or year", param_hint="--interval")
    engine_config = load_settings(config).engine_config
    view = competitive_view(engine_config, usage=usage, interval=BillingInterval(interval))
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    for line in _competitive_lines(view):
        typer.echo(line)


def _competitive_lines(view: CompetitiveView) -> list[str]:
    currency = view.currency

    def money(cents: int | None, *, sign: bool = False) -> str:
        return _money(cents, currency, sign=sign)

    lines = [
        f"Competitive pricing: plans billed per {view.interval}, prices per month ({currency})",
        "",
        "Price per unit (the plan's monthly price / its monthly limit)",
    ]
    units = view.unit_prices[0].units if view.unit_prices else []
    width = max(
        [len("vendor / plan"), *(len(f"{r.vendor} {r.plan_name}") for r in view.unit_prices)]
    )
    lines.append(
        f"  {'vendor / plan':<{width}}{'per month':>11}" + "".join(f"{u.unit:>17}" for u in units)
    )
    overages = []
    for row in view.unit_prices:
        cells = []
        for unit in row.units:
            if unit.limit_kind != "limited":
                cells.append(unit.limit_kind)
            else:
                cells.append(money(unit.cents_per_unit) if unit.cents_per_unit else "not included")
            if unit.overage_cents_per_unit is not None:
                overages.append(
                    f"  {row.vendor} {row.plan_name}: {money(unit.overage_cents_per_unit)} "
                    f"per {unit.unit}"
                )
        name = f"{row.vendor} {row.plan_name}"
        lines.append(
            f"  {name:<{width}}{money(row.monthly_cents):>11}" + "".join(f"{c:>17}" for c in cells)
        )
    if overages:
        lines += ["", "Overage beyond the limits", *overages]
    if not any(row.competitor_id is not None for row in view.unit_prices):
        lines += ["", f"No competitor plans billed per {view.interval} in the config."]
        return lines
    for comparison in view.comparisons:
        usage = ", ".join(
            f"{quantity:,} {metric.replace('api_', 'API ')}"
            for metric, quantity in comparison.usage.items()
        )
        lines += ["", f"At {comparison.profile} usage: {usage} a month"]
        lines.append("  competitors' cheapest plan that covers it")
        for competitor in comparison.competitors:
            best = next(
                (p for p in competitor.plans if p.plan_id == competitor.cheapest_plan_id), None
            )
            if best is None:
                offer = "no plan covers it" if competitor.plans else "no plan on this interval"
            else:
                offer = f"{best.plan_name} {money(best.monthly_cents)}"
                if best.overage_cents:
                    offer += f" (overage {money(best.overage_cents)})"
            lines.append(f"    {competitor.competitor_id:<12}{competitor.name}: {offer}")
        ids = [c.competitor_id for c in comparison.competitors]
        lines.append(f"  {'our plan':<18}{'per month':>14}" + "".join(f"{i[:17]:>20}" for i in ids))
        for cost in comparison.ours:
            mark = "*" if cost.plan_id == comparison.cheapest_plan_id else " "
            if cost.priced_per_contract:
                lines.append(f"{mark} {cost.plan_name:<18}{'per contract':>14}")
                continue
            if cost.monthly_cents is None:
                lines.append(
                    f"{mark} {cost.plan_name:<18}{'does not cover':>14}: "
                    + ", ".join(cost.uncovered)
                )
                continue
            differences = {d.competitor_id: d for d in cost.versus}
            cells = []
            for competitor_id in ids:
                difference = differences.get(competitor_id)
                cells.append(
                    "n/a"
                    if difference is None
                    else f"{money(difference.difference_cents, sign=True)} "
                    f"({_signedpercent(difference.difference_rate)})"
                )
            addons = ", ".join(f"{a.quantity} x {a.name}" for a in cost.addons)
            lines.append(
                f"{mark} {cost.plan_name:<18}{money(cost.monthly_cents):>14}"
                + "".join(f"{c:>20}" for c in cells)
                + (f"   with {addons}" if addons else "")
            )
    lines += ["", "* our cheapest plan for the usage; differences: ours - theirs"]
    return lines


def _signedpercent(rate: float | None) -> str:
    if rate is None:
        return "n/a"
    return f"{'+' if rate > 0 else ''}{rate * 100:.1f}%"


@report_app.command("forecast")
def report_forecast(
    months: Annotated[int, typer.Option(min=1, max=24, help="Months to forecast.")] = 12,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=DATE_FORMATS,
            help="Forecast from this moment (UTC), from the history before it. Default: now.",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the JSON body of GET /v1/admin/reports/forecast."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """MRR and cash for the months ahead with 80% prediction intervals (a cohort model of
    the ledger: retention per tenure, the trial pipeline, sign-ups), and its backtest on the
    history: MAPE per horizon and how often the interval held (DATABASE_URL)."""
    from api.reports.forecast import forecast_view
    from api.reports.service import EARLIEST, LATEST
    from db.engine import create_engine, session_factory
    from db.reporting import load_reporting_data
    from domain.growth.forecast import RevenueForecast, forecast_revenue
    from domain.reporting.periods import utc

    settings = load_settings(config)
    moment = utc(as_of) if as_of is not None else datetime.now(UTC)
    if not EARLIEST <= moment <= LATEST:
        raise typer.BadParameter(
            f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}", param_hint="--as-of"
        )

    async def main() -> RevenueForecast:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                data = await load_reporting_data(session, end=moment)
        finally:
            await engine.dispose()
        return forecast_revenue(data.ledger, data.invoices, as_of=moment, months=months)

    view = forecast_view(asyncio.run(main()), currency=settings.engine_config.catalog.currency)
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    for line in _forecast_lines(view):
        typer.echo(line)


def _forecast_lines(view: ForecastView) -> list[str]:
    currency = view.currency

    def money(cents: int | None) -> str:
        return _money(cents, currency)

    def band(low: int, high: int) -> str:
        return f"{money(low)} .. {money(high)}"

    coverage = f"{view.coverage:.0%}"
    lines = [
        f"Revenue forecast from {view.as_of:%Y-%m-%d %H:%M} UTC, {view.months} months ahead "
        f"({view.method} model, {coverage} prediction intervals)",
        view.note,
    ]
    if view.forecast:
        lines += [
            "",
            f"  {'month to':<11}{'MRR':>14}  {coverage + ' interval':<28}{'cash':>14}  "
            f"{coverage + ' interval':<28}{'new MRR':>12}{'pipeline':>12}",
        ]
        for m in view.forecast:
            lines.append(
                f"  {m.end:%Y-%m-%d} {money(m.mrr_cents):>14}  "
                f"{band(m.mrr_low_cents, m.mrr_high_cents):<28}{money(m.cash_cents):>14}  "
                f"{band(m.cash_low_cents, m.cash_high_cents):<28}"
                f"{money(m.new_mrr_cents):>12}{money(m.pipeline_mrr_cents):>12}"
            )
    rates = view.rates
    if rates is not None:
        retention = "   ".join(
            f"{r.tenure} {percent(r.rate)} ({r.customer_months} customer-months)"
            for r in rates.retention
        )
        lags = ", ".join(percent(rate) for rate in rates.conversion_by_lag)
        lines += [
            "",
            f"Fitted rates (per month, {rates.fit_months} months)",
            f"  MRR retention   {retention}",
            f"  returning {percent(rates.returning_rate)} of paying MRR   trials converting "
            f"0/1/2/3 months after the start: {lags}",
            f"  trials {rates.trial_starts_per_month:g} a month   new MRR per conversion "
            f"{money(rates.mrr_per_conversion_cents)}   direct new MRR "
            f"{money(rates.direct_new_mrr_cents)} a month   annual share "
            f"{percent(rates.annual_share)}   invoiced / scheduled {rates.cash_ratio:.2f}",
        ]
    backtest = view.backtest
    lines += ["", "Backtest", f"  {backtest.note}"]
    if backtest.cutoffs:
        lines.append(
            f"  {'horizon':>8}{'forecasts':>11}{'MRR MAPE':>11}{'cash MAPE':>11}"
            f"{'MRR in interval':>17}{'cash in interval':>18}"
        )
        for h in backtest.horizons:
            lines.append(
                f"  {h.horizon:>8}{h.forecasts:>11}{percent(h.mrr_mape):>11}"
                f"{percent(h.cash_mape):>11}{percent(h.mrr_coverage):>17}"
                f"{percent(h.cash_coverage):>18}"
            )
        lines.append(
            f"  interval coverage over all horizons: MRR {percent(backtest.mrr_coverage)}, "
            f"cash {percent(backtest.cash_coverage)} (nominal {coverage})"
        )
    lines += ["", f"History (cash: {view.cash_source})"]
    lines.append(
        f"  {'month to':<11}{'MRR':>14}{'paying':>8}{'new MRR':>14}{'trials':>8}{'cash':>14}"
    )
    for past in view.history[-12:]:
        lines.append(
            f"  {past.end:%Y-%m-%d} {money(past.mrr_cents):>14}{past.paying_customers:>8}"
            f"{money(past.new_mrr_cents):>14}{past.trial_starts:>8}{money(past.cash_cents):>14}"
        )
    return lines
