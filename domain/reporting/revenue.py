"""Money in and out: invoices, payments and refunds, and the range's net revenue.

* Amounts are net of tax when the inputs are (``net_of_tax``, as every report's are).
* Payments: paid invoices with ``amount_paid_cents`` > 0, at ``paid_at``. Refunds:
  ``charge_refunded`` rows; the provider's ``amount_refunded`` is cumulative per charge, so
  a refund's amount is its increase over the charge's previous refund row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.reporting.ledger import InvoiceRow, Scope
from domain.reporting.periods import utc


@dataclass(frozen=True)
class Payment:
    paid_at: datetime
    invoice: InvoiceRow


@dataclass(frozen=True)
class Refund:
    refunded_at: datetime
    customer_id: str | None
    charge_id: str | None
    invoice_id: str | None
    currency: str | None
    amount_refunded_cents: int
    cumulative_refunded_cents: int
    event_id: str | None


@dataclass(frozen=True)
class RevenueSummary:
    payments: int
    payments_cents: int
    refunds: int
    refunds_cents: int
    net_revenue_cents: int


def refunds_to_end(scope: Scope) -> list[Refund]:
    """Every refund up to ``end`` (the provider's amounts are cumulative per charge)."""
    seen: dict[str, int] = {}
    found = []
    for row in scope.history.refund_rows:
        if row.occurred_at >= scope.end:
            break
        data = row.data
        charge = data.get("charge_id")
        cumulative = int(data.get("amount_refunded_cents") or 0)
        previous = seen.get(charge, 0) if charge else 0
        if charge:
            seen[charge] = max(previous, cumulative)
        found.append(
            Refund(
                refunded_at=row.occurred_at,
                customer_id=row.customer_id,
                charge_id=charge,
                invoice_id=data.get("invoice_id"),
                currency=data.get("currency"),
                amount_refunded_cents=max(0, cumulative - previous),
                cumulative_refunded_cents=cumulative,
                event_id=data.get("event_id"),
            )
        )
    return found


def payments_to_end(scope: Scope) -> list[Payment]:
    """Paid invoices up to ``end``, by payment time."""
    found = []
    for invoice in scope.invoices:
        if invoice.status != "paid" or invoice.amount_paid_cents <= 0:
            continue
        paid_at = utc(invoice.paid_at or invoice.created_at)
        if paid_at < scope.end:
            found.append(Payment(paid_at, invoice))
    found.sort(key=lambda p: (p.paid_at, p.invoice.id))
    return found


def payments_in_range(scope: Scope, every: Sequence[Payment]) -> tuple[Payment, ...]:
    return tuple(
        p
        for p in every
        if scope.start <= p.paid_at and scope.customer_in_segment(p.invoice.customer_id, p.paid_at)
    )


def refunds_in_range(scope: Scope, every: Sequence[Refund]) -> tuple[Refund, ...]:
    return tuple(
        r
        for r in every
        if scope.start <= r.refunded_at and scope.customer_in_segment(r.customer_id, r.refunded_at)
    )


def invoices_in_range(scope: Scope) -> tuple[InvoiceRow, ...]:
    return tuple(
        sorted(
            (
                i
                for i in scope.invoices
                if scope.start <= utc(i.created_at) < scope.end
                and scope.customer_in_segment(i.customer_id, utc(i.created_at))
            ),
            key=lambda i: (utc(i.created_at), i.id),
        )
    )


def revenue_summary(payments: Sequence[Payment], refunds: Sequence[Refund]) -> RevenueSummary:
    payments_cents = sum(p.invoice.amount_paid_cents for p in payments)
    refunds_cents = sum(r.amount_refunded_cents for r in refunds)
    return RevenueSummary(
        payments=len(payments),
        payments_cents=payments_cents,
        refunds=len(refunds),
        refunds_cents=refunds_cents,
        net_revenue_cents=payments_cents - refunds_cents,
    )
