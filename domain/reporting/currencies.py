"""Reports across currencies, in one reporting currency (pure; issue 15 part 5).

Each currency's customers are reported in their own currency (``compute_report`` on their
rows alone), then every figure is converted with the exchange rate on or before the
figure's date and says which rate and which date it used:

* MRR at ``end`` (and each point of the MRR series at its own instant) at the rate of the
  day before that instant (a rate dated that day is not known at its midnight);
* ARPU = converted MRR / paying customers; LTV = ARPU / revenue churn rate, where each
  month's churned and contracted MRR and MRR at its start are converted at that month's end
  and start; none when nothing churned;
* a cohort's cumulative revenue at the rate of ``end``.

Rates are reference rates in the ECB's style (``1 base = rate currency``: 1 EUR = 1.08 USD)
in any base: a conversion crosses
through a base both currencies have, and uses the older of the two legs' dates. Amounts are
minor units of each currency (``domain.money``), rounded half up once. Never used to charge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from domain.money import minor_unit, round_fraction_half_up
from domain.reporting.net_of_tax import TaxBasis
from domain.reporting.report import Report


class NoRate(LookupError):
    """No rate on or before the date for the currency (load some: ``lifecycle fx load``)."""


@dataclass(frozen=True)
class Rate:
    day: date
    currency: str
    # One unit of ``base`` buys ``rate`` units of ``currency`` (the ECB's quotation).
    rate: Decimal
    base: str
    source: str


@dataclass(frozen=True)
class Conversion:
    currency: str
    amount_cents: int
    converted_cents: int
    # Units of the reporting currency per unit of ``currency``; 1 for the same currency.
    rate: Decimal
    # The rate's date (None: no conversion needed) and where it came from.
    rate_date: date | None
    source: str


class RateTable:
    def __init__(self, rates: Iterable[Rate], reporting_currency: str) -> None:
        self.reporting_currency = reporting_currency.lower()
        by_pair: dict[tuple[str, str], list[Rate]] = defaultdict(list)
        for rate in rates:
            by_pair[(rate.currency.lower(), rate.base.lower())].append(rate)
        self._rates = {pair: sorted(found, key=lambda r: r.day) for pair, found in by_pair.items()}

    def _leg(self, currency: str, base: str, on: date) -> Rate | None:
        if currency == base:
            return Rate(on, currency, Decimal(1), base, "identity")
        found = [r for r in self._rates.get((currency, base), []) if r.day <= on]
        return found[-1] if found else None

    def rate(self, currency: str, on: date) -> tuple[Decimal, date | None, str]:
        """Reporting units per unit of ``currency`` on ``on`` (the latest on or before)."""
        code = currency.lower()
        target = self.reporting_currency
        if code == target:
            return Decimal(1), None, "identity"
        bases = {base for (cur, base) in self._rates if cur == code} | {code}
        best: tuple[Decimal, date, str] | None = None
        for base in sorted(bases):
            mine, theirs = self._leg(code, base, on), self._leg(target, base, on)
            if mine is None or theirs is None:
                continue
            day = min(mine.day, theirs.day)
            if best is None or day > best[1]:
                sources = {mine.source, theirs.source} - {"identity"}
                best = (theirs.rate / mine.rate, day, ", ".join(sorted(sources)))
        if best is None:
            raise NoRate(f"no {code.upper()}/{target.upper()} rate on or before {on.isoformat()}")
        return best

    def convert(self, amount_cents: int, currency: str, on: date) -> Conversion:
        """Nothing is nothing in any currency: a zero needs no rate (shown as 0, no date)."""
        try:
            rate, day, source = self.rate(currency, on)
        except NoRate:
            if amount_cents:
                raise
            return Conversion(currency.lower(), 0, 0, Decimal(0), None, "no rate needed")
        scale = Fraction(10) ** (minor_unit(self.reporting_currency) - minor_unit(currency))
        converted = round_fraction_half_up(Fraction(amount_cents) * Fraction(rate) * scale)
        return Conversion(currency.lower(), amount_cents, converted, rate, day, source)


def rate_day(at: datetime) -> date:
    """The day whose rate a figure at instant ``at`` uses: the day before a midnight."""
    return (at - timedelta(microseconds=1)).date()


@dataclass(frozen=True)
class Converted:
    cents: int
    conversions: tuple[Conversion, ...]


@dataclass(frozen=True)
class ConvertedPoint:
    month: str
    at: datetime
    mrr: Converted


@dataclass(frozen=True)
class ConvertedCohort:
    month: str
    customers: int
    revenue: Converted


@dataclass(frozen=True)
class CurrencyBreakdown:
    """One currency's customers in their own currency, and their MRR converted."""

    currency: str
    paying_customers: int
    mrr_cents: int
    arpu_cents: int | None
    ltv_cents: int | None
    mrr_converted: Conversion


@dataclass(frozen=True)
class ConvertedReport:
    reporting_currency: str
    start: datetime
    end: datetime
    mrr: Converted
    paying_customers: int
    arpu_cents: int | None
    ltv_cents: int | None
    mrr_series: tuple[ConvertedPoint, ...]
    cohorts: tuple[ConvertedCohort, ...]
    by_currency: tuple[CurrencyBreakdown, ...]
    # Net of tax and where the customers' shares came from (None: as paid).
    tax: TaxBasis | None = None


def _total(conversions: list[Conversion]) -> Converted:
    return Converted(sum(c.converted_cents for c in conversions), tuple(conversions))


def _convert_fraction(table: RateTable, amount: int, currency: str, on: date) -> Fraction:
    """Unrounded, for ratios (LTV): rounding each month first would bias them."""
    if amount == 0:
        return Fraction(0)
    rate, _, _ = table.rate(currency, on)
    scale = Fraction(10) ** (minor_unit(table.reporting_currency) - minor_unit(currency))
    return Fraction(amount) * Fraction(rate) * scale


def combine(reports: Mapping[str, Report], table: RateTable) -> ConvertedReport:
    """One report per currency (same range and segment) into the reporting currency."""
    if not reports:
        raise ValueError("no report to combine")
    first = next(iter(reports.values()))
    start, end = first.start, first.end
    at_end = rate_day(end)
    mrr = [table.convert(r.mrr_cents, c, at_end) for c, r in reports.items()]
    paying = sum(r.paying_customers for r in reports.values())
    total = _total(mrr)
    arpu = Fraction(total.cents, paying) if paying else None
    lost, base = Fraction(0), Fraction(0)
    for currency, report in reports.items():
        for month in report.churn.months:
            lost += _convert_fraction(
                table,
                month.churned_mrr_cents + month.contraction_mrr_cents,
                currency,
                rate_day(month.window_end),
            )
            base += _convert_fraction(
                table, month.mrr_at_start_cents, currency, rate_day(month.window_start)
            )
    ltv = None
    if arpu is not None and lost > 0 and base > 0:
        ltv = round_fraction_half_up(arpu / (lost / base))
    series: list[ConvertedPoint] = []
    for index, point in enumerate(first.mrr_series):
        day = rate_day(point.at)
        series.append(
            ConvertedPoint(
                point.month,
                point.at,
                _total(
                    [
                        table.convert(r.mrr_series[index].mrr_cents, c, day)
                        for c, r in reports.items()
                    ]
                ),
            )
        )
    cohorts: dict[str, tuple[int, list[Conversion]]] = {}
    for currency, report in reports.items():
        for cohort in report.cohorts:
            customers, conversions = cohorts.get(cohort.month, (0, []))
            conversions.append(table.convert(cohort.revenue_cents, currency, at_end))
            cohorts[cohort.month] = (customers + cohort.customers, conversions)
    return ConvertedReport(
        reporting_currency=table.reporting_currency,
        start=start,
        end=end,
        mrr=total,
        paying_customers=paying,
        arpu_cents=None if arpu is None else round_fraction_half_up(arpu),
        ltv_cents=ltv,
        mrr_series=tuple(series),
        cohorts=tuple(
            ConvertedCohort(month, customers, _total(conversions))
            for month, (customers, conversions) in sorted(cohorts.items())
        ),
        by_currency=tuple(
            CurrencyBreakdown(
                currency=c,
                paying_customers=r.paying_customers,
                mrr_cents=r.mrr_cents,
                arpu_cents=r.arpu_cents,
                ltv_cents=r.ltv_cents,
                mrr_converted=conversion,
            )
            for (c, r), conversion in zip(reports.items(), mrr, strict=True)
        ),
    )
