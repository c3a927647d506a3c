"""Tax and legal content of the simulator's invoices, as Stripe Tax and Stripe's invoice
settings would give them: the buyer's taxes from ``domain.tax`` (its place from the
customer's address, its business status from its TaxIds), Stripe-shaped tax entries on
each line and in ``total_taxes``, the reverse-charge mention, and the invoice's number,
sequential across the account per prefix when the seller has one.

What an invoice shows of the parties (names, addresses, tax ids) is frozen when it is
finalized, as Stripe freezes ``customer_name``, ``customer_address`` and
``customer_tax_ids``: later changes to the customer do not rewrite issued invoices.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.simulator.models import SimCustomer, SimInvoiceNumber
from db.writes import insert_ignoring_conflict
from domain.tax.calculation import (
    REVERSE_CHARGE_NOTE,
    Buyer,
    Taxability,
    TaxBehavior,
    TaxLine,
    taxes_for,
)
from domain.tax.invoice import InvoiceTax, tax_invoice
from domain.tax.rates import TaxKind, TaxRate, reverse_charge_region
from domain.tax.settings import TaxSettings
from domain.tax.tax_ids import InvalidTaxId, TaxId, validate_tax_id

Json = dict[str, Any]

# Tax rates are Stripe's, not created by a call: one fixed creation time.
TAX_RATE_CREATED = 1767225600  # 2026-01-01T00:00:00Z

# Stripe's tax_type of each kind of tax.
_TAX_TYPES = {
    TaxKind.VAT: "vat",
    TaxKind.GST: "gst",
    TaxKind.HST: "hst",
    TaxKind.PST: "pst",
    TaxKind.QST: "qst",
    TaxKind.SALES_TAX: "sales_tax",
}


def customer_tax_ids(customer: SimCustomer) -> list[TaxId]:
    """The customer's TaxIds as the domain reads them (all were validated when added)."""
    found = []
    for stored in customer.tax_ids or []:
        try:
            found.append(validate_tax_id(str(stored["type"]), str(stored["value"])))
        except InvalidTaxId:
            continue
    return found


def buyer_of(customer: SimCustomer) -> Buyer | None:
    """Where the customer is (its address's country and state) and, if it has one, the
    tax id of its own country (what makes it a business buyer there). No address: Stripe
    Tax cannot locate the customer and charges nothing."""
    address = customer.address or {}
    country = str(address.get("country") or "").upper()
    if not country:
        return None
    state = address.get("state")
    ids = customer_tax_ids(customer)
    area = reverse_charge_region(country)
    own = next(
        (
            t
            for t in ids
            if t.country == country or (area and reverse_charge_region(t.country) == area)
        ),
        None,
    )
    return Buyer(country=country, region=str(state).upper() if state else None, tax_id=own)


def rate_id(rate: TaxRate, behavior: TaxBehavior) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", f"{rate.jurisdiction}_{rate.kind}_{rate.percentage}".lower())
    return f"txr_sim_{slug}_{behavior.value}"


def tax_rate(rate: TaxRate, behavior: TaxBehavior) -> Json:
    """The Tax Rate object (expanded: the engine reads its percentage and name)."""
    country, _, state = rate.jurisdiction.partition("-")
    return {
        "id": rate_id(rate, behavior),
        "object": "tax_rate",
        "active": True,
        "country": country,
        "created": TAX_RATE_CREATED,
        "description": None,
        "display_name": rate.display_name,
        "effective_percentage": float(rate.percentage),
        "flat_amount": None,
        "inclusive": behavior is TaxBehavior.INCLUSIVE,
        "jurisdiction": rate.jurisdiction,
        "jurisdiction_level": "state" if state else "country",
        "livemode": False,
        "metadata": {},
        "percentage": float(rate.percentage),
        "rate_type": "percentage",
        "state": state or None,
        "tax_type": _TAX_TYPES[rate.kind],
    }


def tax_entry(line: TaxLine, behavior: TaxBehavior, reason: str) -> Json:
    """One ``billing_bill_resource_invoicing_taxes_tax``."""
    return {
        "amount": line.amount,
        "tax_behavior": behavior.value,
        "tax_rate_details": {"tax_rate": tax_rate(line.rate, behavior)},
        "taxability_reason": reason,
        "taxable_amount": line.taxable_amount,
        "type": "tax_rate_details",
    }


def _reverse_charge_line(buyer: Buyer, amount: int) -> TaxLine:
    # Stripe Tax shows the reverse charge as a 0 % VAT line on the net.
    return TaxLine(TaxRate(TaxKind.VAT, Decimal(0), buyer.country, "VAT"), 0, amount)


def _entries(taxed_lines: tuple[TaxLine, ...], behavior: TaxBehavior, reverse: bool) -> list[Json]:
    reason = "reverse_charge" if reverse else "standard_rated"
    return [tax_entry(line, behavior, reason) for line in taxed_lines]


def apply_tax(
    settings: TaxSettings,
    customer: SimCustomer,
    lines: list[Json],
    discount: int,
    currency: str,
) -> InvoiceTax | None:
    """Tax the invoice's lines (their ``taxes`` are set here); None when tax is off or the
    customer cannot be located (Stripe Tax's ``requires_location_inputs``)."""
    if not settings.enabled:
        return None
    buyer = buyer_of(customer)
    if buyer is None:
        return None
    taxability: Taxability = taxes_for(buyer, settings.seller_country)
    behavior = settings.behavior_for(currency)
    amounts = [int(line["amount"]) for line in lines]
    discountable = [bool(line.get("discountable")) for line in lines]
    taxed = tax_invoice(amounts, discountable, discount, taxability, behavior)
    for line, line_tax in zip(lines, taxed.lines, strict=True):
        shown = (
            (_reverse_charge_line(buyer, line_tax.subtotal),)
            if taxed.reverse_charge
            else line_tax.lines
        )
        line["taxes"] = _entries(shown, behavior, taxed.reverse_charge)
    return taxed


def tax_details(
    settings: TaxSettings, customer: SimCustomer, taxed: InvoiceTax | None, *, subtotal: int
) -> Json:
    """What the invoice keeps of its tax and of the parties, frozen at finalization."""
    seller = settings.seller
    details: Json = {
        "automatic_tax": settings.enabled,
        "account_name": seller.name if seller else None,
        "account_address": list(seller.address_lines) if seller else [],
        "account_tax_ids": [
            {"id": f"txi_sim_account_{i}", "type": t.type, "value": t.value}
            for i, t in enumerate(seller.tax_ids if seller else ())
        ],
        "customer_name": customer.name,
        "customer_address": dict(customer.address) if customer.address else None,
        "customer_tax_ids": [
            {"type": t.type, "value": t.value} for t in customer_tax_ids(customer)
        ],
        "reverse_charge": False,
        "total_taxes": [],
        "subtotal_excluding_tax": subtotal,
        "location_known": buyer_of(customer) is not None,
    }
    if taxed is None:
        return details
    buyer = buyer_of(customer)
    totals = (
        (_reverse_charge_line(buyer, taxed.net),)
        if taxed.reverse_charge and buyer is not None
        else taxed.totals
    )
    details["reverse_charge"] = taxed.reverse_charge
    details["total_taxes"] = _entries(totals, taxed.behavior, taxed.reverse_charge)
    if taxed.behavior is TaxBehavior.INCLUSIVE:
        details["subtotal_excluding_tax"] = subtotal - sum(
            sum(t.amount for t in line.lines) for line in taxed.lines
        )
    return details


def footer(details: Json | None) -> str | None:
    return REVERSE_CHARGE_NOTE if details and details.get("reverse_charge") else None


def tax_id_object(stored: Json, customer_id: str) -> Json:
    """Stripe's TaxId object of a customer's stored tax id."""
    return {
        "id": stored["id"],
        "object": "tax_id",
        "country": stored.get("country"),
        "created": int(stored["created"]),
        "customer": customer_id,
        "customer_account": None,
        "livemode": False,
        "owner": {"customer": customer_id, "customer_account": None, "type": "customer"},
        "type": stored["type"],
        "value": stored["value"],
        # Stripe checks VIES / HMRC asynchronously; offline there is nothing to ask.
        "verification": {"status": "unavailable", "verified_address": None, "verified_name": None}
        if stored["type"] in ("eu_vat", "gb_vat", "au_abn")
        else None,
    }


async def next_number(session: AsyncSession, prefix: str) -> str:
    """The prefix's next invoice number. The counter row stays locked until the
    finalization commits (a rollback gives the number back), so concurrent finalizations
    take turns and no number is skipped or issued twice."""
    await insert_ignoring_conflict(
        session, SimInvoiceNumber, {"prefix": prefix, "last_number": 0}, on=["prefix"]
    )
    issued = await session.scalar(
        update(SimInvoiceNumber)
        .where(SimInvoiceNumber.prefix == prefix)
        .values(last_number=SimInvoiceNumber.last_number + 1)
        .returning(SimInvoiceNumber.last_number)
    )
    return f"{prefix}-{int(issued or 0):04d}"


def unix(moment: datetime) -> int:
    return int(moment.timestamp())
