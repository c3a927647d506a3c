"""HTTP routes of revenue reporting (scope ``admin``): the metrics JSON, the CSV exports,
the competitive pricing report and the revenue forecast.

The first two read the ledger and the invoice mirror and compute with ``domain.reporting``;
the competitive report reads the config only (``domain.growth.competitive``);
``api.reports.service`` runs those. The forecast reads the ledger and invoices too and
computes with ``domain.growth.forecast`` (``api.reports.forecast``). The definitions below
are the endpoints' documentation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.auth import require_admin
from api.context import AppContext, get_context
from api.errors import problem_response
from api.reports import service
from api.reports.forecast import build_forecast, forecast_view
from api.reports.save_flow import SaveFlowView, build_save_flow_report, save_flow_view
from api.reports.schemas import CompetitiveView, ForecastView, MetricsView
from domain.growth.competitive import MAX_USAGE
from domain.growth.forecast import MAX_MONTHS
from domain.growth.save_flow import __doc__ as save_flow_doc
from domain.lifecycle import BillingInterval
from domain.reporting.csv_export import CSV_COLUMNS
from domain.reporting.periods import Granularity

router = APIRouter(prefix="/v1/admin", tags=["reports"], dependencies=[Depends(require_admin)])

DEFINITIONS = """
**Range.** `[from, to)`, UTC; `from`/`to` take a date (`2026-01-01`, midnight UTC) or a
date-time (without a zone: UTC). Default: the 12 months up to now. Snapshots (MRR, customer
counts) are taken at `to`: the state after every ledger event before `to`. Calendar months,
ISO weeks (Monday) and days are UTC; a month cut by the range is clipped (`partial`).

**Filters.** `plan` and `interval` count a customer under the plan and interval it had at
the time: snapshots use its plan then, an event counts under the plan it left the customer
on. Trials started are never filtered (every trial is on the trial plan); conversions are
counted when they are into the filtered plan/interval.

**MRR.** A customer's recurring MRR is the running sum of its ledger MRR deltas: plan plus
recurring add-ons, annual prices at one twelfth a month. The engine bills metered usage as
one-off message packs: the **metered overage** MRR at `t` is what those purchases billed in
`[t - 1 calendar month, t)` (Stripe's own MRR leaves it out; this one includes it).
`mrr_cents` = recurring MRR at `to` + overage MRR at `to`; `arr_cents` = 12 x `mrr_cents`.
The monthly series measures each month at its end (the last one at `to`).

**Movements.** Every ledger event in the range that changes a customer's recurring MRR,
classified with its MRR before (b) and after (a): `new` b = 0 < a, first revenue ever;
`reactivated` b = 0 < a, had revenue before (resume, restart); `churned` a = 0 < b
(cancellation, pause, dunning exhausted); `expansion` a > b > 0; `contraction` 0 < a < b.
Contraction and churned are negative cents; `net_cents` sums all five. Each lists the
customers behind it (cents summed per customer). With a filter, `transfer_in_cents` /
`transfer_out_cents` carry the MRR of customers who changed plan into or out of the segment,
so `starting + net + transfer_in - transfer_out = ending` recurring MRR.

**Trial funnel.** The trials started in the range, and of those by `to`: converted (first
conversion; via win-back when at least one win-back email was sent, else within the trial,
else after expiry), expired, expired and unconverted, still trialing.
`conversion_rate` = converted / started; days to convert = conversion - trial start, median
over the converted; weekly cohorts by ISO week of the trial start.

**Churn (per calendar month).** Paying customers = recurring MRR > 0 (past_due included).
Logo churn = customers with a churned movement in the month / paying customers at its
start. Revenue churn = (churned + contraction MRR) / recurring MRR at its start.
Involuntary = canceled when dunning ran out; voluntary = every other churn (cancellations,
pauses). Dunning recovery = payments recovered / (recovered + dunning exhausted). The
range's `logo_churn_rate`, `revenue_churn_rate` and `dunning_recovery_rate` pool the months
(sum of numerators / sum of denominators): monthly rates.

**ARPU / LTV.** `arpu_cents` = `mrr_cents` / paying customers at `to`. `ltv_cents` = ARPU /
`revenue_churn_rate` (from unrounded values); null when revenue churn is 0. Cohorts: customers
by month of first revenue, with observed cumulative revenue (paid invoices less refunds) and
retained customers at the end of each month since.

**Net of tax** (`tax_basis`: `net`). Tax collected is owed to governments, not revenue:
every amount excludes it. An invoice counts its total less its tax, and a payment (or what
is due) less its share of the tax (half up). MRR from tax-inclusive prices (`[tax]
behavior_by_currency`) is multiplied by the customer's net share, `(total - tax) / total`
of its latest subscription invoice up to `to` (Stripe Tax's figures; a reverse charge has
no tax), or, before any invoice, the engine's rates for its place and tax id; one share per
customer for the whole report, so MRR still sums its movements. Packs and refunds are net
with their invoice's share. `tax_shares` counts the customers per source of their share.

**Numbers.** Money is integer cents; quotients in cents round half up. Rates are fractions
(0.25 = 25 %) rounded half up to 4 decimal places, days to 2; null when the denominator is 0.
"""


FromParam = Annotated[
    datetime | None,
    Query(
        alias="from",
        description="Range start, inclusive: a date or date-time (UTC). Default: `to` - 12 months",
    ),
]
ToParam = Annotated[
    datetime | None,
    Query(alias="to", description="Range end, exclusive: a date or date-time (UTC). Default: now"),
]
PlanParam = Annotated[
    str | None, Query(max_length=64, description="Only customers on this plan at the time")
]
IntervalParam = Annotated[
    BillingInterval | None, Query(description="Only customers billed at this interval then")
]
GranularityParam = Annotated[
    Granularity, Query(description="Buckets of the lifecycle report (status counts)")
]


@router.get(
    "/metrics",
    response_model=MetricsView,
    summary="Revenue metrics: MRR, movements, trial funnel, churn, ARPU, LTV, cohorts",
    description=DEFINITIONS,
)
async def metrics(
    start: FromParam = None,
    end: ToParam = None,
    plan: PlanParam = None,
    interval: IntervalParam = None,
    granularity: GranularityParam = Granularity.MONTH,
    context: AppContext = Depends(get_context),
) -> MetricsView:
    built = await service.build_report(
        context, start=start, end=end, plan=plan, interval=interval, granularity=granularity
    )
    return service.metrics_view(
        built.report, currency=built.currency, rates=built.rates, tax=built.tax
    )


_CSV_DOC = "\n".join(
    f"- `{name}`: " + ", ".join(f"`{c}`" for c in columns) for name, columns in CSV_COLUMNS.items()
)


@router.get(
    "/reports/{name}.csv",
    response_class=Response,
    summary="A report table as CSV",
    description=(
        "The tables behind the metrics, one row per line, with a header row; columns are "
        "stable and in this order (new columns are only ever appended):\n\n"
        f"{_CSV_DOC}\n\n"
        "`mrr_movements`: one row per MRR-changing event (delta signed); `invoices`: created "
        "in the range; `payments`: paid invoices, by payment time; `refunds`: refund events "
        "(amount = this refund, the provider's cumulative figure beside it); `trial_funnel`: "
        "per weekly sign-up cohort; `churn`: per calendar month; `cohorts`: per first-revenue "
        "month and month since; `lifecycle`: status counts per `granularity` bucket; `mrr`: "
        "the monthly MRR series. Times are ISO 8601 UTC, rates decimal fractions with 4 "
        "places, empty cells mean none. Same query parameters and definitions as "
        "`GET /v1/admin/metrics`."
    ),
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        404: problem_response(404, "No report of that name"),
    },
)
async def report_csv(
    name: str,
    start: FromParam = None,
    end: ToParam = None,
    plan: PlanParam = None,
    interval: IntervalParam = None,
    granularity: GranularityParam = Granularity.MONTH,
    context: AppContext = Depends(get_context),
) -> Response:
    service.require_csv_report(name)
    report = (
        await service.build_report(
            context, start=start, end=end, plan=plan, interval=interval, granularity=granularity
        )
    ).report
    filename = f"{name}_{report.start:%Y%m%d}_{report.end:%Y%m%d}.csv"
    return Response(
        service.render_csv(report, name),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


COMPETITIVE_DEFINITIONS = """
Our plans beside the competitors entered in the config (`[competitors.<id>]`), for one
billing interval (`interval`, default `month`): our plans priced on it (yearly: 12 x monthly
less the annual discount) against the competitors' plans billed on it. Money is integer
cents per month (a yearly price / 12, rounded half up).

**Price per unit** (`unit_prices`): each plan's monthly price / its monthly limit of a
metric, per chatbot, 1,000 messages, 1M tokens or 1,000 API calls; the whole price set
against one metric at a time. A competitor's metric left out of its config is `unknown`
(never assumed covered); `unlimited` is stated explicitly.

**Cost at a usage profile** (`comparisons`): with `chatbots`, `messages`, `tokens` or
`api_calls` given (per month; others count 0), that one profile, else the default
`small`, `medium` and `large` (per metric the lowest, midpoint and highest limit of our
self-serve plans). Each of our plans costs its price plus the cheapest add-on lifting each
metric it falls short on, in whole units at the engine's add-on prices and effective limits
(a feature add-on comes once); a competitor's plan its price plus its overage rates on what
exceeds the limits. Usage must fit the limits (no grace band); a plan that cannot fit it is
reported as not covering it, never priced. `versus` sets each of our plans against each
competitor's cheapest covering plan: `difference_cents` = ours - theirs, `difference_rate`
= difference / theirs (4 places).
"""


def _usage_param(metric: str) -> object:
    return Query(ge=0, le=MAX_USAGE, description=f"{metric} per month in the profile")


@router.get(
    "/reports/competitive",
    response_model=CompetitiveView,
    summary="Competitive pricing: price per unit and cost at a usage against competitors",
    description=COMPETITIVE_DEFINITIONS,
)
async def competitive(
    chatbots: Annotated[int | None, _usage_param("Chatbots")] = None,
    messages: Annotated[int | None, _usage_param("Messages")] = None,
    tokens: Annotated[int | None, _usage_param("Tokens")] = None,
    api_calls: Annotated[int | None, _usage_param("API calls")] = None,
    interval: Annotated[
        BillingInterval, Query(description="The billing interval compared")
    ] = BillingInterval.MONTH,
    context: AppContext = Depends(get_context),
) -> CompetitiveView:
    usage = {"chatbots": chatbots, "messages": messages, "tokens": tokens, "api_calls": api_calls}
    return service.competitive_view(context.config, usage=usage, interval=interval)


FORECAST_DEFINITIONS = """
MRR and cash for the `months` after `as_of` (default now), with prediction intervals, from
the ledger and the invoice mirror before `as_of`. Months are calendar months counted from
`as_of` (`[as_of + k - 1 months, as_of + k months)`); MRR is the recurring MRR of
`GET /v1/admin/metrics` (plans and recurring add-ons; metered overage is usage, left out)
at each month's end; cash is what is billed in the month.

**Model** (`method` = `cohort`), fitted on the 12 months before `as_of` (`rates`): the
paying MRR carried forward month by month at the MRR retention observed per tenure bucket
(0-2, 3-11, 12+ months since first revenue; churn, contraction and expansion netted; a thin
bucket shrunk towards the all-tenure rate), plus MRR returning from former customers; new
MRR from the trial pipeline (trials started in each month x the share of a month's trials
first paying 0-3 months later x the average MRR of a new customer), future trials at the
last 3 months' average, plus direct sign-ups. Cash: monthly plans bill every month, annual
plans 12 x MRR in their renewal month (new ones at conversion, monthly customers moving
onto a yearly plan at the observed rate, at the move), times the last 3 months' ratio of
invoiced to scheduled billing (1 without invoices).

**Intervals**: the central 80 % (`coverage`) of 2,000 simulated paths; each path resamples
the past months and the conversion shares (the rates' uncertainty), and each of its months
draws one of its past months' rates, a recent month's sign-ups, Poisson conversions and a
past month's invoiced/scheduled noise. The point forecast is the path at the fitted rates.

**Backtest**: from each past month with at least 6 months of revenue before it (the last
24), fitted on the months before it only, forecasts compared with the MRR the ledger
replays and the cash invoiced: MAPE per horizon (1, 3, 6, 12 months; mean of
|forecast - actual| / actual, fractions) and the share of actuals inside the interval
(empirical coverage). With fewer than 6 months of revenue there is no forecast: `status`
is `insufficient_history` and `note` says why.
"""


@router.get(
    "/reports/forecast",
    response_model=ForecastView,
    summary="Revenue forecast: MRR and cash ahead with prediction intervals, and its backtest",
    description=FORECAST_DEFINITIONS,
)
async def forecast(
    months: Annotated[
        int, Query(ge=1, le=MAX_MONTHS, description="Months to forecast after `as_of`")
    ] = 12,
    as_of: Annotated[
        datetime | None,
        Query(description="Forecast from this moment: a date or date-time (UTC). Default: now"),
    ] = None,
    context: AppContext = Depends(get_context),
) -> ForecastView:
    result = await build_forecast(context, months=months, as_of=as_of)
    return forecast_view(result, currency=context.config.catalog.currency)


@router.get(
    "/reports/save-flow",
    response_model=SaveFlowView,
    summary="Churn prevention: the save flow by exit reason, offers taken, offers sent",
    description=save_flow_doc,
)
async def save_flow(
    start: FromParam = None,
    end: ToParam = None,
    context: AppContext = Depends(get_context),
) -> SaveFlowView:
    """Same range parameters as `GET /v1/admin/metrics`."""
    return save_flow_view(await build_save_flow_report(context, start=start, end=end))
