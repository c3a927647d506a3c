"""The main revenue report across currencies, at constant exchange rates (pure).

``/v1/admin/metrics``, its CSV and the dashboard compute one report over every customer.
When customers pay in several currencies, their amounts cannot simply be added: each
customer's ledger amounts (MRR movements, the packs' amounts paid) and each invoice's
amounts are first converted into the reporting currency at one rate per currency, the rate
of the report's end (``rate_day``), each amount rounded half up once. One rate per currency
keeps the report consistent with itself (MRR at the end is the sum of its movements);
``domain.reporting.currencies`` converts each figure at its own date instead, for reports
where the history of the rate matters. Never used to charge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

from domain.money import minor_unit, round_fraction_half_up
from domain.reporting.currencies import RateTable
from domain.reporting.ledger import InvoiceRow, LedgerRow

# What a ledger row's data may hold in money (a one-off pack's amount paid).
_LEDGER_AMOUNTS = ("amount_paid_cents",)


@dataclass(frozen=True)
class RateUsed:
    currency: str
    # Units of the reporting currency per unit of ``currency``, as the table gave it.
    rate: Decimal
    rate_date: date | None
    source: str


@dataclass(frozen=True)
class ConstantRateInputs:
    ledger: list[LedgerRow]
    invoices: list[InvoiceRow]
    currency: str
    # The rates applied, one per converted currency (none: one currency throughout).
    rates: tuple[RateUsed, ...]


class _Rates:
    def __init__(self, table: RateTable, on: date) -> None:
        self._table, self._on = table, on
        self.used: dict[str, RateUsed] = {}
        self._factors: dict[str, Fraction | None] = {}

    def factor(self, currency: str) -> Fraction | None:
        """Minor units of the reporting currency per minor unit of ``currency``; None for
        the reporting currency itself. Raises ``NoRate``."""
        code = currency.lower()
        if code not in self._factors:
            target = self._table.reporting_currency
            if code == target:
                self._factors[code] = None
            else:
                rate, day, source = self._table.rate(code, self._on)
                self.used[code] = RateUsed(code, rate, day, source)
                scale = Fraction(10) ** (minor_unit(target) - minor_unit(code))
                self._factors[code] = Fraction(rate) * scale
        return self._factors[code]


def _convert(amount: int, factor: Fraction) -> int:
    return round_fraction_half_up(amount * factor)


def at_constant_rates(
    ledger: Iterable[LedgerRow],
    invoices: Iterable[InvoiceRow],
    currency_of: Mapping[str, str],
    table: RateTable,
    on: date,
) -> ConstantRateInputs:
    """The report's inputs in ``table.reporting_currency``. ``currency_of``: each
    customer's currency (the ledger's rows carry none); an invoice carries its own.
    Raises ``domain.reporting.currencies.NoRate`` for a currency without a rate."""
    rates = _Rates(table, on)
    converted_ledger: list[LedgerRow] = []
    for row in ledger:
        currency = currency_of.get(row.customer_id) if row.customer_id is not None else None
        factor = rates.factor(currency) if currency is not None else None
        if factor is None:
            converted_ledger.append(row)
            continue
        data = dict(row.data)
        for key in _LEDGER_AMOUNTS:
            if data.get(key) is not None:
                data[key] = _convert(int(data[key]), factor)
        converted_ledger.append(
            replace(row, mrr_delta_cents=_convert(row.mrr_delta_cents, factor), data=data)
        )
    converted_invoices: list[InvoiceRow] = []
    for invoice in invoices:
        factor = rates.factor(invoice.currency)
        if factor is None:
            converted_invoices.append(invoice)
            continue
        converted_invoices.append(
            replace(
                invoice,
                currency=table.reporting_currency,
                amount_paid_cents=_convert(invoice.amount_paid_cents, factor),
                amount_due_cents=_convert(invoice.amount_due_cents, factor),
                subtotal_cents=_convert(invoice.subtotal_cents, factor),
                total_cents=_convert(invoice.total_cents, factor),
                amount_remaining_cents=_convert(invoice.amount_remaining_cents, factor),
            )
        )
    return ConstantRateInputs(
        ledger=converted_ledger,
        invoices=converted_invoices,
        currency=table.reporting_currency,
        rates=tuple(sorted(rates.used.values(), key=lambda r: r.currency)),
    )
