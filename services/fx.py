"""Exchange rates for reporting (issue 15 part 5): load them (a CSV file, the admin API, the
offline default table shipped in ``services/data/fx_rates.csv``) and report across
currencies in the reporting currency (``domain.reporting.currencies``). Never used to
charge: what a customer pays comes from the catalog in its own currency.

The CSV: a header ``date,currency,rate[,base][,source]``, one rate a line in the ECB's
quotation (one unit of ``base`` buys ``rate`` units of ``currency``; base defaults to
``eur``, as the ECB publishes); lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import func, select

from core.config import EngineConfig
from db.engine import SessionFactory
from db.fx_rates import stored_rates, upsert_rates
from db.models import Customer
from db.reporting import load_reporting_data
from domain.money import UnknownCurrency, currency_code
from domain.reporting.constant_rates import ConstantRateInputs, at_constant_rates
from domain.reporting.currencies import ConvertedReport, Rate, RateTable, combine, rate_day
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


async def rate_table(config: EngineConfig, sessions: SessionFactory) -> RateTable:
    """The stored rates, and the offline default table's where none is stored for that day,
    currency and base."""
    async with sessions() as session:
        stored = await stored_rates(session)
    known = {(r.day, r.currency, r.base) for r in stored}
    fallback = [r for r in default_rates() if (r.day, r.currency, r.base) not in known]
    return RateTable([*stored, *fallback], config.reporting_currency)


async def currency_report(
    config: EngineConfig,
    sessions: SessionFactory,
    *,
    start: datetime,
    end: datetime,
    plan: str | None = None,
    interval: str | None = None,
) -> ConvertedReport:
    """Every currency's customers reported in their own currency, combined in the reporting
    currency. Raises ``domain.reporting.currencies.NoRate`` when a rate is missing."""
    own = func.coalesce(Customer.currency, config.catalog.currency)
    groups: dict[str, list[str]] = defaultdict(list)
    async with sessions() as session:
        for customer_id, currency in await session.execute(select(Customer.id, own)):
            groups[str(currency)].append(str(customer_id))
    if not groups:
        groups[config.catalog.currency] = []
    reports: dict[str, Report] = {}
    for currency, customer_ids in sorted(groups.items()):
        async with sessions() as session:
            data = await load_reporting_data(session, end=end, customer_ids=customer_ids)
        reports[currency] = compute_report(
            data.ledger, data.invoices, start=start, end=end, plan=plan, interval=interval
        )
    return combine(reports, await rate_table(config, sessions))


async def report_inputs(
    config: EngineConfig, sessions: SessionFactory, *, end: datetime
) -> ConstantRateInputs:
    """The main report's ledger and invoices up to ``end``, in the reporting currency at
    the rates of ``end`` when customers pay in other currencies (one currency throughout:
    as stored, no rate needed). Raises ``NoRate``."""
    own = func.lower(func.coalesce(Customer.currency, config.catalog.currency))
    target = config.reporting_currency
    async with sessions() as session:
        data = await load_reporting_data(session, end=end)
        currencies = set((await session.scalars(select(own).distinct())).all())
        currency_of: dict[str, str] = {}
        if currencies - {target}:
            rows = await session.execute(select(Customer.id, own))
            currency_of = {str(customer): str(currency) for customer, currency in rows}
    invoice_currencies = {invoice.currency.lower() for invoice in data.invoices}
    if not (currencies | invoice_currencies) - {target}:
        return ConstantRateInputs(data.ledger, data.invoices, target, ())
    table = await rate_table(config, sessions)
    return at_constant_rates(data.ledger, data.invoices, currency_of, table, rate_day(end))
