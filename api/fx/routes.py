"""HTTP routes of exchange rates (scope ``admin``): store and list dated rates, and the
revenue report in the reporting currency. Rates are for reporting only, never to charge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, require_admin
from api.context import AppContext, get_context
from api.errors import Problem, problem_responses
from api.fx.schemas import (
    CohortView,
    ConversionView,
    ConvertedView,
    CurrencyReportView,
    CurrencyView,
    PointView,
    RatesRequest,
    RatesStored,
    RateView,
    TaxSharesView,
)
from api.reports.service import report_range
from db.fx_rates import stored_rates
from domain.lifecycle import BillingInterval
from domain.reporting.currencies import NoRate, Rate
from services.fx import currency_report
from services.fx_admin import store_rates_recorded

router = APIRouter(prefix="/v1/admin", tags=["fx"], dependencies=[Depends(require_admin)])


@router.put("/fx-rates", response_model=RatesStored, responses=problem_responses(422))
async def put_rates(
    body: RatesRequest,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> RatesStored:
    """Store dated rates in the ECB's quotation (one `base` buys `rate` `currency`); a rate
    already stored for the same date, currency and base is replaced. The ledger records
    who stored which (`fx_rates_set`)."""
    rates = [Rate(r.date, r.currency, r.rate, r.base, r.source) for r in body.rates]
    stored = await store_rates_recorded(
        context.sessions, rates, actor=principal.actor, source="admin-api", now=datetime.now(UTC)
    )
    return RatesStored(stored=stored)


@router.get("/fx-rates", response_model=list[RateView])
async def list_rates(
    currency: Annotated[str | None, Query(max_length=8)] = None,
    context: AppContext = Depends(get_context),
) -> list[RateView]:
    async with context.sessions() as session:
        rates = await stored_rates(session, currency)
    return [
        RateView(date=r.day, currency=r.currency, rate=str(r.rate), base=r.base, source=r.source)
        for r in rates
    ]


@router.get(
    "/reports/currencies",
    response_model=CurrencyReportView,
    responses=problem_responses(422),
    summary="MRR, ARPU, LTV and cohorts across currencies, in the reporting currency",
)
async def currencies_report(
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    plan: str | None = None,
    interval: BillingInterval | None = None,
    by: Annotated[Literal["currency"] | None, Query(description="`currency`: a breakdown")] = None,
    context: AppContext = Depends(get_context),
) -> CurrencyReportView:
    """Each currency's customers are reported in their own currency, then converted with
    the rate on or before each figure's date (shown beside it): MRR and the series at their
    instants, churn months for LTV at their own, cohorts at `to`. Same definitions as
    `/v1/admin/metrics` otherwise."""
    start, end = report_range(start, end)
    try:
        report = await currency_report(
            context.config,
            context.sessions,
            start=start,
            end=end,
            plan=plan,
            interval=interval.value if interval is not None else None,
        )
    except NoRate as exc:
        raise Problem(
            422, f"{exc}: load rates first (PUT /v1/admin/fx-rates)", type="no-rate"
        ) from None
    return CurrencyReportView(
        reporting_currency=report.reporting_currency,
        start=report.start,
        end=report.end,
        mrr=ConvertedView.of(report.mrr),
        arr_cents=12 * report.mrr.cents,
        paying_customers=report.paying_customers,
        arpu_cents=report.arpu_cents,
        ltv_cents=report.ltv_cents,
        tax_shares=TaxSharesView.of(report.tax) if report.tax is not None else None,
        mrr_series=[
            PointView(month=p.month, at=p.at, mrr=ConvertedView.of(p.mrr))
            for p in report.mrr_series
        ],
        cohorts=[
            CohortView(month=c.month, customers=c.customers, revenue=ConvertedView.of(c.revenue))
            for c in report.cohorts
        ],
        by_currency=[
            CurrencyView(
                currency=b.currency,
                paying_customers=b.paying_customers,
                mrr_cents=b.mrr_cents,
                arpu_cents=b.arpu_cents,
                ltv_cents=b.ltv_cents,
                mrr_converted=ConversionView.of(b.mrr_converted),
            )
            for b in report.by_currency
        ]
        if by == "currency"
        else None,
    )
