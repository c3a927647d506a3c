"""Loading what the metrics engine (``domain.reporting``) needs. Reads only; never commits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Customer, CustomerTaxId, Invoice, LedgerEvent
from domain.reporting.ledger import InvoiceRow, LedgerRow
from domain.reporting.net_of_tax import TaxPlace
from domain.tax.tax_ids import TaxId

# Audit rows the metrics never read (the invoice mirror stands in for invoice_paid); they
# are most of the ledger, so they are left in the database.
_SKIPPED_KINDS = ("email_sent", "webhook_received", "invoice_paid")


@dataclass(frozen=True)
class ReportingData:
    ledger: list[LedgerRow]
    invoices: list[InvoiceRow]


async def load_ledger(
    session: AsyncSession, *, end: datetime, customer_ids: Collection[str] | None = None
) -> list[LedgerRow]:
    """Every lifecycle row and refund before ``end`` (all of history: MRR at a range's start
    is the sum of everything before it), in ledger order."""
    query = (
        select(
            LedgerEvent.id,
            LedgerEvent.customer_id,
            LedgerEvent.kind,
            LedgerEvent.actor,
            LedgerEvent.from_status,
            LedgerEvent.to_status,
            LedgerEvent.plan,
            LedgerEvent.interval,
            LedgerEvent.mrr_delta_cents,
            LedgerEvent.data,
            LedgerEvent.occurred_at,
        )
        .where(
            LedgerEvent.occurred_at < end,
            LedgerEvent.kind.not_in(_SKIPPED_KINDS),
            or_(LedgerEvent.customer_id.is_not(None), LedgerEvent.kind == "charge_refunded"),
        )
        .order_by(LedgerEvent.occurred_at, LedgerEvent.id)
    )
    if customer_ids is not None:
        query = query.where(LedgerEvent.customer_id.in_(list(customer_ids)))
    result = await session.execute(query)
    return [
        LedgerRow(
            customer_id=row.customer_id,
            kind=row.kind,
            occurred_at=row.occurred_at,
            from_status=row.from_status,
            to_status=row.to_status,
            plan=row.plan,
            interval=row.interval,
            mrr_delta_cents=int(row.mrr_delta_cents or 0),
            data=row.data or {},
            actor=row.actor,
            id=row.id,
        )
        for row in result
    ]


async def load_invoices(
    session: AsyncSession, *, end: datetime, customer_ids: Collection[str] | None = None
) -> list[InvoiceRow]:
    """Invoices created before ``end`` (later ones cannot have been paid in the range)."""
    query = (
        select(
            Invoice.id,
            Invoice.customer_id,
            Invoice.number,
            Invoice.status,
            Invoice.currency,
            Invoice.subtotal_cents,
            Invoice.total_cents,
            Invoice.amount_due_cents,
            Invoice.amount_paid_cents,
            Invoice.amount_remaining_cents,
            Invoice.tax_cents,
            Invoice.billing_reason,
            Invoice.period_start,
            Invoice.period_end,
            Invoice.paid_at,
            Invoice.created_at,
        )
        .where(Invoice.created_at < end)
        .order_by(Invoice.created_at, Invoice.id)
    )
    if customer_ids is not None:
        query = query.where(Invoice.customer_id.in_(list(customer_ids)))
    result = await session.execute(query)
    return [
        InvoiceRow(
            id=row.id,
            customer_id=row.customer_id,
            status=row.status,
            currency=row.currency,
            created_at=row.created_at,
            amount_paid_cents=int(row.amount_paid_cents),
            amount_due_cents=int(row.amount_due_cents),
            subtotal_cents=int(row.subtotal_cents),
            total_cents=int(row.total_cents),
            amount_remaining_cents=int(row.amount_remaining_cents),
            tax_cents=int(row.tax_cents or 0),
            number=row.number,
            billing_reason=row.billing_reason,
            period_start=row.period_start,
            period_end=row.period_end,
            paid_at=row.paid_at,
        )
        for row in result
    ]


async def load_reporting_data(
    session: AsyncSession, *, end: datetime, customer_ids: Collection[str] | None = None
) -> ReportingData:
    """The ledger and invoices a report for any range ending at ``end`` reads;
    ``customer_ids`` narrows both to those customers."""
    return ReportingData(
        ledger=await load_ledger(session, end=end, customer_ids=customer_ids),
        invoices=await load_invoices(session, end=end, customer_ids=customer_ids),
    )


def customer_currency(default: str) -> ColumnElement[str]:
    """The currency a customer pays in (lower case): its own, else the catalog's
    (``default``)."""
    return func.lower(func.coalesce(Customer.currency, default))


async def load_tax_places(
    session: AsyncSession, *, default_currency: str, customer_ids: Collection[str] | None = None
) -> dict[str, TaxPlace]:
    """Where each customer is taxed: its currency, its billing address's country and state
    (else the country it signed up with) and its tax ids."""
    query = select(
        Customer.id, customer_currency(default_currency), Customer.country, Customer.billing_address
    )
    ids_query = select(
        CustomerTaxId.customer_id, CustomerTaxId.type, CustomerTaxId.value, CustomerTaxId.country
    ).order_by(CustomerTaxId.id)
    if customer_ids is not None:
        query = query.where(Customer.id.in_(list(customer_ids)))
        ids_query = ids_query.where(CustomerTaxId.customer_id.in_(list(customer_ids)))
    tax_ids: dict[str, list[TaxId]] = {}
    for customer_id, type_, value, country in await session.execute(ids_query):
        tax_ids.setdefault(str(customer_id), []).append(TaxId(str(type_), str(value), str(country)))
    places: dict[str, TaxPlace] = {}
    for customer_id, currency, country, address in await session.execute(query):
        address = address or {}
        places[str(customer_id)] = TaxPlace(
            currency=str(currency),
            country=address.get("country") or country,
            region=address.get("state"),
            tax_ids=tuple(tax_ids.get(str(customer_id), ())),
        )
    return places
