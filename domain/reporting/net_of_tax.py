"""Revenue net of tax (pure): what the reports count is what the business keeps, never the
tax it collects for governments.

* Invoices: tax is what Stripe Tax put on the invoice (``tax_cents``). Its total is net as
  ``total - tax``; an amount paid, due or remaining is net of its share of the tax
  (``amount x tax / total``, rounded half up; never below 0), so a part payment counts
  its part of the net. A subtotal contains tax only with tax-inclusive prices (Stripe's
  ``subtotal`` is before exclusive tax), and only then loses its share.
* A customer's net share: the part of what it pays that is not tax, taken from its most
  recent subscription invoice with a positive total up to the report's end,
  ``(total - tax) / total`` (Stripe Tax's truth: a reverse charge has no tax, share 1);
  with no such invoice yet, the engine's own estimate from the rates table of
  ``domain.tax`` (its country and state, and a valid tax id of its country); 1 when tax
  is off or the customer cannot be located (Stripe Tax then charges nothing).
* Ledger MRR comes from catalog prices: with tax-inclusive prices it contains the tax,
  so it is multiplied by the customer's share; exclusive prices are net already. A one-off
  pack's amount paid and a refund are money paid: netted with their invoice's share when
  the invoice is known, else with the customer's.

One share per customer for the whole report (as ``constant_rates`` takes one rate per
currency), so MRR at the end stays the sum of its movements.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from domain.money import round_fraction_half_up
from domain.reporting.ledger import InvoiceRow, LedgerRow
from domain.reporting.periods import utc
from domain.tax.calculation import Buyer, TaxBehavior, taxes_for
from domain.tax.rates import reverse_charge_region
from domain.tax.settings import TaxSettings
from domain.tax.tax_ids import TaxId

ONE = Fraction(1)
# Invoices whose tax has not been computed (draft) or does not count (void).
_UNTAXED_STATUSES = ("draft", "void")


class ShareSource(StrEnum):
    INVOICE = "invoice"
    ESTIMATE = "estimate"
    # Tax off, or nowhere to compute it from: nothing is taken off.
    NONE = "none"


@dataclass(frozen=True)
class TaxPlace:
    """Where a customer is taxed, as the engine knows it."""

    # The currency it pays in (lower case): whether its prices include tax.
    currency: str
    country: str | None = None
    # US state or Canadian province.
    region: str | None = None
    tax_ids: tuple[TaxId, ...] = ()


@dataclass(frozen=True)
class NetShare:
    # The part of what the customer pays that is not tax.
    paid: Fraction
    source: ShareSource
    # Its prices include tax: its ledger MRR is multiplied by ``paid`` too.
    inclusive: bool

    @property
    def mrr(self) -> Fraction:
        return self.paid if self.inclusive else ONE


@dataclass(frozen=True)
class TaxBasis:
    """What a report says of its tax: net, and where the customers' shares came from."""

    basis: str
    from_invoice: int
    estimated: int
    untaxed: int


def _buyer(place: TaxPlace) -> Buyer | None:
    if not place.country:
        return None
    country = place.country.upper()
    area = reverse_charge_region(country)
    own = next(
        (
            t
            for t in place.tax_ids
            if t.country == country or (area and reverse_charge_region(t.country) == area)
        ),
        None,
    )
    return Buyer(country=country, region=place.region.upper() if place.region else None, tax_id=own)


def estimated_share(place: TaxPlace, settings: TaxSettings) -> Fraction | None:
    """The net share the engine's rates table gives (1 for a reverse charge or where SaaS
    is not taxed); None when tax is off or the customer has no known country."""
    if not settings.enabled:
        return None
    buyer = _buyer(place)
    if buyer is None:
        return None
    rates = taxes_for(buyer, settings.seller_country).rates
    return ONE / (ONE + sum((Fraction(r.percentage) / 100 for r in rates), Fraction(0)))


def invoice_share(invoice: InvoiceRow) -> Fraction | None:
    """``(total - tax) / total``; None for an invoice with nothing to share."""
    if invoice.total_cents <= 0:
        return None
    return Fraction(max(0, invoice.total_cents - invoice.tax_cents), invoice.total_cents)


def _latest_subscription_invoices(
    invoices: Iterable[InvoiceRow], end: datetime
) -> dict[str, InvoiceRow]:
    latest: dict[str, InvoiceRow] = {}
    for invoice in invoices:
        if (
            invoice.total_cents <= 0
            or invoice.status in _UNTAXED_STATUSES
            or not (invoice.billing_reason or "").startswith("subscription")
            or utc(invoice.created_at) >= end
        ):
            continue
        seen = latest.get(invoice.customer_id)
        if seen is None or (utc(seen.created_at), seen.id) < (utc(invoice.created_at), invoice.id):
            latest[invoice.customer_id] = invoice
    return latest


def net_shares(
    invoices: Iterable[InvoiceRow],
    places: Mapping[str, TaxPlace],
    settings: TaxSettings,
    *,
    end: datetime,
    customers: Collection[str] | None = None,
) -> dict[str, NetShare]:
    """Each customer's share (of ``customers``, else of ``places``)."""
    latest = _latest_subscription_invoices(invoices, utc(end))
    shares: dict[str, NetShare] = {}
    for customer_id in customers if customers is not None else places:
        place = places.get(customer_id)
        inclusive = (
            place is not None and settings.behavior_for(place.currency) is TaxBehavior.INCLUSIVE
        )
        found = latest.get(customer_id)
        share = invoice_share(found) if found is not None else None
        if share is not None:
            shares[customer_id] = NetShare(share, ShareSource.INVOICE, inclusive)
            continue
        estimate = estimated_share(place, settings) if place is not None else None
        if estimate is not None:
            shares[customer_id] = NetShare(estimate, ShareSource.ESTIMATE, inclusive)
        else:
            shares[customer_id] = NetShare(ONE, ShareSource.NONE, inclusive)
    return shares


def tax_basis(shares: Iterable[NetShare]) -> TaxBasis:
    counts = dict.fromkeys(ShareSource, 0)
    for share in shares:
        counts[share.source] += 1
    return TaxBasis(
        basis="net",
        from_invoice=counts[ShareSource.INVOICE],
        estimated=counts[ShareSource.ESTIMATE],
        untaxed=counts[ShareSource.NONE],
    )


def _less_share(amount: int, tax: int, total: int) -> int:
    if total <= 0 or tax == 0:
        return amount
    return max(0, amount - round_fraction_half_up(Fraction(amount * tax, total)))


def net_invoice(invoice: InvoiceRow, *, inclusive: bool) -> InvoiceRow:
    """The invoice's amounts net of its tax, in its own currency; ``tax_cents`` kept (the
    tax taken off the total)."""
    tax, total = invoice.tax_cents, invoice.total_cents
    if tax == 0:
        return invoice
    return replace(
        invoice,
        total_cents=max(0, total - tax),
        amount_paid_cents=_less_share(invoice.amount_paid_cents, tax, total),
        amount_due_cents=_less_share(invoice.amount_due_cents, tax, total),
        amount_remaining_cents=_less_share(invoice.amount_remaining_cents, tax, total),
        subtotal_cents=_less_share(invoice.subtotal_cents, tax, total)
        if inclusive
        else invoice.subtotal_cents,
    )


def report_customers(ledger: Iterable[LedgerRow], invoices: Iterable[InvoiceRow]) -> set[str]:
    """The customers a report's data names."""
    found = {row.customer_id for row in ledger if row.customer_id is not None}
    return found | {invoice.customer_id for invoice in invoices}
