"""The invoice mirror: one row per provider invoice, updated as the invoice moves on."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.ledger import append_ledger
from db.models import Invoice
from domain.payments import InvoiceInfo, InvoiceLine


def _line(line: InvoiceLine) -> dict[str, Any]:
    return {
        "description": line.description,
        "amount_cents": line.amount_cents,
        "proration": line.proration,
        "period_start": line.period_start.isoformat() if line.period_start else None,
        "period_end": line.period_end.isoformat() if line.period_end else None,
        "price_lookup_key": line.price_lookup_key,
        "quantity": line.quantity,
    }


def _tax_details(invoice: InvoiceInfo) -> dict[str, Any]:
    """What the mirror keeps of an invoice's tax: the net, the breakdown per rate, the
    buyer's tax ids and the reverse charge (MRR and revenue read the net, never the tax)."""
    return {
        "total_excluding_tax_cents": invoice.total_excluding_tax_cents,
        "taxes": [asdict(tax) for tax in invoice.taxes],
        "customer_tax_ids": [{"type": t, "value": v} for t, v in invoice.customer_tax_ids],
        "reverse_charge": invoice.reverse_charge,
    }


def invoice_values(customer_id: str, invoice: InvoiceInfo, *, now: datetime) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "customer_id": customer_id,
        "subscription_id": invoice.subscription,
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "subtotal_cents": invoice.subtotal_cents,
        "total_cents": invoice.total_cents,
        "amount_due_cents": invoice.amount_due_cents,
        "amount_paid_cents": invoice.amount_paid_cents,
        "amount_remaining_cents": invoice.amount_remaining_cents,
        "billing_reason": invoice.billing_reason,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "paid_at": invoice.paid_at,
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "invoice_pdf": invoice.invoice_pdf,
        "attempt_count": invoice.attempt_count,
        "next_payment_attempt": invoice.next_payment_attempt,
        "lines": [_line(line) for line in invoice.lines],
        "tax_cents": invoice.tax_cents,
        "tax_details": _tax_details(invoice),
        "created_at": invoice.created,
        "updated_at": now,
    }


async def upsert_invoice(
    session: AsyncSession, customer_id: str, invoice: InvoiceInfo, *, now: datetime
) -> None:
    """Insert or refresh the mirror row. A paid invoice never goes back to open: events
    can arrive out of order, and payment is final."""
    values = invoice_values(customer_id, invoice, now=now)
    previous = await session.scalar(select(Invoice.status).where(Invoice.id == invoice.id))
    if invoice.status == "paid" and previous != "paid":
        await append_ledger(
            session,
            {
                "event_key": f"invoice_paid:{invoice.id}",
                "customer_id": customer_id,
                "kind": "invoice_paid",
                "actor": "stripe",
                "from_status": None,
                "to_status": None,
                "plan": None,
                "interval": None,
                "mrr_delta_cents": 0,
                "data": {
                    "invoice_id": invoice.id,
                    "number": invoice.number,
                    "amount_paid_cents": invoice.amount_paid_cents,
                    "currency": invoice.currency,
                    "billing_reason": invoice.billing_reason,
                },
                "occurred_at": invoice.paid_at or now,
                "recorded_at": now,
            },
        )
    statement = insert_for(session)(Invoice).values(**values)
    changing = {k: statement.excluded[k] for k in values if k not in ("id", "created_at")}
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_=changing,
        where=Invoice.status != "paid",
    )
    await session.execute(statement)


async def invoice_numbers(session: AsyncSession) -> list[tuple[str, str]]:
    """(customer id, number) of every mirrored invoice that has a number (not drafts)."""
    rows = await session.execute(
        select(Invoice.customer_id, Invoice.number).where(Invoice.number.is_not(None))
    )
    return [(str(row[0]), str(row[1])) for row in rows]
