"""Exchange rates for reporting (issue 15 part 5): load them (a CSV file, the admin API, the
offline default table shipped in ``services/data/fx_rates.csv``) and report across
currencies in the reporting currency (``domain.reporting.currencies``). Never used to
charge: what a customer pays comes from the catalog in its own currency. Both reports are
net of tax (``domain.reporting.net_of_tax``).

The CSV: a header ``date,currency,rate[,base][,source]``, one rate a line in the ECB's
quotation (one unit of ``base`` buys ``rate`` units of ``currency``; base defaults to
``eur``, as the ECB publishes); lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.config import EngineConfig
from db.engine import SessionFactory
from db.fx_rates import stored_rates, upsert_rates
from db.reporting import ReportingData, load_reporting_data, load_tax_places
from domain.money import UnknownCurrency, currency_code
from domain.reporting.constant_rates import ConstantRateInputs, at_constant_rates
from domain.reporting.currencies import ConvertedReport, Rate, RateTable, combine, rate_day
from domain.reporting.net_of_tax import TaxBasis, TaxPlace, net_shares, report_customers
from domain.reporting.report import Report, compute_report
from services.errors import ServiceError

DEFAULT_RATES = Path(__file__).resolve().parent / "data" / "fx_rates.csv"
DEFAULT_BASE = "eur"


class RatesFileError(ServiceError):
    """A rates file that cannot be read; the message names the line and the column."""


def parse_rates(text: str, *, source: str) -> list[Rate]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    missing = {"date", "currency", "rate"} - set(reader.fieldnames or [])
    if missing:
        raise RatesFileError(f"the header needs the column(s) {', '.join(sorted(missing))}")
    rates: list[Rate] = []
    for number, row in enumerate(reader, start=2):
        column = "date"
        try:
            day = date.fromisoformat((row.get("date") or "").strip())
            column = "currency"
            currency = currency_code(row.get("currency") or "")
            column = "base"
            base = currency_code(row.get("base") or DEFAULT_BASE)
            column = "rate"
            rate = Decimal((row.get("rate") or "").strip())
            if not rate.is_finite() or rate <= 0:
                raise ValueError("must be > 0")
        except (ValueError, InvalidOperation, UnknownCurrency) as exc:
            raise RatesFileError(f"line {number}, {column}: {exc or 'not a number'}") from None
        rates.append(
            Rate(
                day=day,
                currency=currency,
                rate=rate,
                base=base,
                source=(row.get("source") or "").strip() or source,
            )
        )
    return rates


def default_rates() -> list[Rate]:
    return parse_rates(DEFAULT_RATES.read_text(), source="offline-default")


async def store_rates(sessions: SessionFactory, rates: list[Rate], *, now: datetime) -> int:
    async with sessions.begin() as session:
        return await upsert_rates(session, rates, now=now)


async def known_rates(sessions: SessionFactory) -> list[Rate]:
    """The stored rates, and the offline default table's where none is stored for that day,
    currency and base."""
    async with sessions() as session:
        stored = await stored_rates(session)
    known = {(r.day, r.currency, r.base) for r in stored}
    fallback = [r for r in default_rates() if (r.day, r.currency, r.base) not in known]
    return [*stored, *fallback]


async def rate_table(config: EngineConfig, sessions: SessionFactory) -> RateTable:
    return RateTable(await known_rates(sessions), config.reporting_currency)


def _net(
    config: EngineConfig,
    data: ReportingData,
    places: dict[str, TaxPlace],
    table: RateTable,
    *,
    end: datetime,
) -> ConstantRateInputs:
    """The data net of tax (one share per customer), in ``table``'s currency."""
    shares = net_shares(
        data.invoices,
        places,
        config.tax,
        end=end,
        customers=report_customers(data.ledger, data.invoices),
    )
    currency_of = {customer_id: place.currency for customer_id, place in places.items()}
    return at_constant_rates(
        data.ledger, data.invoices, currency_of, table, rate_day(end), shares=shares
    )


async def currency_report(
    config: EngineConfig,
    sessions: SessionFactory,
    *,
    start: datetime,
    end: datetime,
    plan: str | None = None,
    interval: str | None = None,
) -> ConvertedReport:
    """Every currency's customers reported in their own currency, net of tax, combined in
    the reporting currency. Raises ``domain.reporting.currencies.NoRate`` when a rate is
    missing."""
    async with sessions() as session:
        places = await load_tax_places(session, default_currency=config.catalog.currency)
    groups: dict[str, list[str]] = defaultdict(list)
    for customer_id, place in places.items():
        groups[place.currency].append(customer_id)
    if not groups:
        groups[config.catalog.currency.lower()] = []
    reports: dict[str, Report] = {}
    bases: list[TaxBasis] = []
    rates = await known_rates(sessions)
    for currency, customer_ids in sorted(groups.items()):
        async with sessions() as session:
            data = await load_reporting_data(session, end=end, customer_ids=customer_ids)
        # The group's own currency as the target: netted, not converted, but for an invoice
        # in another currency (a customer whose currency changed since), at the rate of
        # ``end``.
        inputs = _net(config, data, places, RateTable(rates, currency), end=end)
        if inputs.tax is not None:
            bases.append(inputs.tax)
        reports[currency] = compute_report(
            inputs.ledger, inputs.invoices, start=start, end=end, plan=plan, interval=interval
        )
    combined = combine(reports, RateTable(rates, config.reporting_currency))
    return replace(combined, tax=_sum_bases(bases))


def _sum_bases(bases: list[TaxBasis]) -> TaxBasis:
    return TaxBasis(
        basis="net",
        from_invoice=sum(b.from_invoice for b in bases),
        estimated=sum(b.estimated for b in bases),
        untaxed=sum(b.untaxed for b in bases),
    )


async def report_inputs(
    config: EngineConfig, sessions: SessionFactory, *, end: datetime
) -> ConstantRateInputs:
    """The main report's ledger and invoices up to ``end``, net of tax, in the reporting
    currency at the rates of ``end`` when customers pay in other currencies (one currency
    throughout: no rate needed). Raises ``NoRate``."""
    target = config.reporting_currency.lower()
    async with sessions() as session:
        data = await load_reporting_data(session, end=end)
        places = await load_tax_places(session, default_currency=config.catalog.currency)
    currencies = {place.currency for place in places.values()}
    currencies |= {invoice.currency.lower() for invoice in data.invoices}
    table = await rate_table(config, sessions) if currencies - {target} else RateTable([], target)
    return _net(config, data, places, table, end=end)
