"""Bodies of the exchange rates and of the report in the reporting currency."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictStr

from api.reports.schemas import TAX_BASIS_DESCRIPTION, TaxSharesView
from api.schemas import RequestBody
from domain.money import currency_code
from domain.reporting.currencies import Conversion, Converted

Currency = Annotated[StrictStr, Field(max_length=8), AfterValidator(currency_code)]


class RateIn(RequestBody):
    date: date
    currency: Currency
    rate: Decimal = Field(gt=0, description="One unit of `base` buys this many of `currency`")
    base: Currency = "eur"
    source: str = Field(default="admin", min_length=1, max_length=64)


class RatesRequest(RequestBody):
    rates: list[RateIn] = Field(min_length=1, max_length=5000)


class RateView(BaseModel):
    date: date
    currency: str
    rate: str
    base: str
    source: str


class RatesStored(BaseModel):
    stored: int


class ConversionView(BaseModel):
    currency: str
    amount_cents: int = Field(description="In the currency's own minor unit")
    converted_cents: int = Field(description="In the reporting currency's minor unit")
    rate: str = Field(description="Reporting-currency units per unit of `currency`")
    rate_date: date | None = Field(description="The rate's date; null: same currency")
    source: str

    @classmethod
    def of(cls, c: Conversion) -> ConversionView:
        return cls(
            currency=c.currency,
            amount_cents=c.amount_cents,
            converted_cents=c.converted_cents,
            rate=str(c.rate.normalize() if c.rate_date else c.rate),
            rate_date=c.rate_date,
            source=c.source,
        )


class ConvertedView(BaseModel):
    cents: int
    conversions: list[ConversionView]

    @classmethod
    def of(cls, c: Converted) -> ConvertedView:
        return cls(cents=c.cents, conversions=[ConversionView.of(x) for x in c.conversions])


class PointView(BaseModel):
    month: str
    at: datetime
    mrr: ConvertedView


class CohortView(BaseModel):
    month: str
    customers: int
    revenue: ConvertedView


class CurrencyView(BaseModel):
    currency: str
    paying_customers: int
    mrr_cents: int = Field(description="In the currency's own minor unit")
    arpu_cents: int | None
    ltv_cents: int | None
    mrr_converted: ConversionView


class CurrencyReportView(BaseModel):
    reporting_currency: str
    start: datetime
    end: datetime
    mrr: ConvertedView = Field(description="MRR at `to`, each currency at its rate")
    arr_cents: int
    paying_customers: int
    arpu_cents: int | None
    ltv_cents: int | None
    mrr_series: list[PointView]
    cohorts: list[CohortView]
    by_currency: list[CurrencyView] | None = Field(
        default=None, description="With `by=currency`: each currency in its own"
    )
    tax_basis: Literal["net"] = Field(default="net", description=TAX_BASIS_DESCRIPTION)
    tax_shares: TaxSharesView | None = Field(
        default=None, description="Where the customers' net shares came from"
    )
