"""The main revenue report across currencies, at constant exchange rates, net of tax (pure).

``/v1/admin/metrics``, its CSV and the dashboard compute one report over every customer.
When customers pay in several currencies, their amounts cannot simply be added: each
customer's ledger amounts (MRR movements, the packs' amounts paid) and each invoice's
amounts are first converted into the reporting currency at one rate per currency, the rate
of the report's end (``rate_day``), each amount rounded half up once. One rate per currency
keeps the report consistent with itself (MRR at the end is the sum of its movements);
``domain.reporting.currencies`` converts each figure at its own date instead, for reports
where the history of the rate matters. Never used to charge.

The same pass takes tax out (``domain.reporting.net_of_tax``): each customer's one net
share multiplies its ledger amounts with its rate, and each invoice loses its tax before
it is converted, so a one-currency deployment is reported net as well.

A customer's MRR movements are scaled through its running MRR: each movement is the
change of ``round(MRR x factor)``, so its scaled MRR is the sum of its scaled movements and
falls to exactly 0 when its MRR does (rounding each movement alone could leave a churned
customer a cent of MRR).
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
from domain.reporting.net_of_tax import (
    NetShare,
    TaxBasis,
    invoice_share,
    net_invoice,
    tax_basis,
)
from domain.reporting.periods import utc

# What a ledger row's data may hold in money paid: a one-off pack's amount, and a refund's
# cumulative amount (per charge).
_LEDGER_AMOUNTS = ("amount_paid_cents", "amount_refunded_cents")
ONE = Fraction(1)


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
    # Net of tax and how (None: amounts as paid, tax included).
    tax: TaxBasis | None = None


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


class _Running:
    """Each customer's MRR as stored and as scaled, to scale its movements through it."""

    def __init__(self) -> None:
        self._totals: dict[str, tuple[int, int]] = {}

    def scaled(self, customer_id: str, delta: int, factor: Fraction) -> int:
        raw, done = self._totals.get(customer_id, (0, 0))
        raw += delta
        now = round_fraction_half_up(raw * factor)
        self._totals[customer_id] = (raw, now)
        return now - done


def at_constant_rates(
    ledger: Iterable[LedgerRow],
    invoices: Iterable[InvoiceRow],
    currency_of: Mapping[str, str],
    table: RateTable,
    on: date,
    *,
    shares: Mapping[str, NetShare] | None = None,
) -> ConstantRateInputs:
    """The report's inputs in ``table.reporting_currency``. ``currency_of``: each
    customer's currency (the ledger's rows carry none); an invoice carries its own.
    ``shares``: each customer's net share (``net_of_tax.net_shares``): amounts net of tax;
    None keeps them as paid. Raises ``domain.reporting.currencies.NoRate`` for a currency
    without a rate."""
    rates = _Rates(table, on)
    invoices = list(invoices)
    by_id = {invoice.id: invoice for invoice in invoices}
    rows = list(ledger)
    # History's order (stable for ties), so running MRR is scaled as it is replayed.
    order = sorted(range(len(rows)), key=lambda k: (utc(rows[k].occurred_at), rows[k].id))
    running = _Running()
    converted_ledger: list[LedgerRow] = list(rows)
    for index in order:
        row = rows[index]
        cid = row.customer_id
        currency = currency_of.get(cid) if cid is not None else None
        currency = currency or row.data.get("currency")
        rate = (rates.factor(str(currency)) if currency else None) or ONE
        share = shares.get(cid) if shares is not None and cid is not None else None
        mrr_factor = rate * (share.mrr if share is not None else ONE)
        delta = row.mrr_delta_cents
        if delta and mrr_factor != ONE:
            assert cid is not None  # only customers' rows move MRR
            delta = running.scaled(cid, delta, mrr_factor)
        data = dict(row.data)
        for key in _LEDGER_AMOUNTS:
            if data.get(key) is None:
                continue
            paid = _paid_share(data.get("invoice_id"), by_id, share)
            data[key] = _convert(int(data[key]), rate * paid)
        if rate != ONE and data.get("currency") is not None:
            data["currency"] = table.reporting_currency
        if delta != row.mrr_delta_cents or data != row.data:
            converted_ledger[index] = replace(row, mrr_delta_cents=delta, data=data)
    converted_invoices: list[InvoiceRow] = []
    for invoice in invoices:
        if shares is not None:
            share = shares.get(invoice.customer_id)
            invoice = net_invoice(invoice, inclusive=share is not None and share.inclusive)
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
                tax_cents=_convert(invoice.tax_cents, factor),
            )
        )
    return ConstantRateInputs(
        ledger=converted_ledger,
        invoices=converted_invoices,
        currency=table.reporting_currency,
        rates=tuple(sorted(rates.used.values(), key=lambda r: r.currency)),
        tax=tax_basis(shares.values()) if shares is not None else None,
    )


def _paid_share(
    invoice_id: object, invoices: Mapping[str, InvoiceRow], share: NetShare | None
) -> Fraction:
    """Money paid on an invoice the report knows is net with that invoice's share."""
    invoice = invoices.get(invoice_id) if isinstance(invoice_id, str) else None
    found = invoice_share(invoice) if invoice is not None else None
    if found is not None:
        return found
    return share.paid if share is not None else ONE
