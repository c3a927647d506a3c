"""What the simulator's invoice PDF says: what invoicing law asks of an invoice (the EU VAT
directive's article 226, the UK's VAT rules and their like), from the invoice as frozen at
finalization: its sequential number and date, the seller's legal name, address and tax
ids, the buyer's name, address and tax ids, each line, the tax per rate with the amount
it was charged on, and the reverse-charge mention when the buyer accounts for the VAT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.payments.simulator.models import SimInvoice
from adapters.payments.simulator.taxes import footer
from domain.locales import format_amount

_ADDRESS_KEYS = ("line1", "line2", "postal_code", "city", "state", "country")


def _when(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "-"


def _address(stored: dict[str, Any] | None) -> list[str]:
    if not stored:
        return []
    parts = [str(stored[key]) for key in _ADDRESS_KEYS if stored.get(key)]
    return [", ".join(parts)] if parts else []


def _tax_ids(ids: list[dict[str, Any]] | None) -> list[str]:
    return [f"Tax id ({t['type']}): {t['value']}" for t in ids or []]


def _rate_label(entry: dict[str, Any]) -> str:
    rate = (entry.get("tax_rate_details") or {}).get("tax_rate") or {}
    if not isinstance(rate, dict):
        return str(rate)
    name = rate.get("display_name") or "Tax"
    where = rate.get("jurisdiction") or rate.get("country") or ""
    return f"{name} {rate.get('percentage', 0):g}% ({where})"


def _service_period(inv: SimInvoice) -> str:
    """What the lines bill for (an invoice's own period is Stripe's, not the service's)."""
    periods = [line.get("period") or {} for line in inv.lines or []]
    starts = [int(p["start"]) for p in periods if p.get("start")]
    ends = [int(p["end"]) for p in periods if p.get("end")]
    if not starts or not ends:
        return "-"
    first, last = (datetime.fromtimestamp(t, UTC) for t in (min(starts), max(ends)))
    return f"{_when(first)} to {_when(last)}"


def legal_text(inv: SimInvoice) -> str:
    details = inv.tax_details or {}
    money = lambda cents: format_amount(int(cents), inv.currency)  # noqa: E731
    text = [
        f"Invoice {inv.number}",
        f"Status: {inv.status}",
        f"Date of issue: {_when(inv.finalized_at)}",
        f"Service period: {_service_period(inv)}",
        "",
        "From:",
        *([details["account_name"]] if details.get("account_name") else []),
        *(details.get("account_address") or []),
        *_tax_ids(details.get("account_tax_ids")),
        "",
        "Bill to:",
        *([details["customer_name"]] if details.get("customer_name") else []),
        *_address(details.get("customer_address")),
        *_tax_ids(details.get("customer_tax_ids")),
        "",
    ]
    for line in inv.lines or []:
        text.append(f"{line.get('description')}: {money(line['amount'])}")
    text.append(f"Subtotal: {money(inv.subtotal_cents)}")
    if inv.discount_cents:
        text.append(f"Discount: -{money(inv.discount_cents)}")
    for entry in details.get("total_taxes") or []:
        included = entry.get("tax_behavior") == "inclusive" and entry["amount"]
        text.append(
            f"{_rate_label(entry)} on {money(entry.get('taxable_amount') or 0)}"
            f"{' (included)' if included else ''}: {money(entry['amount'])}"
        )
    text.append(f"Total excluding tax: {money(inv.total_cents - (inv.tax_cents or 0))}")
    text.append(f"Total: {money(inv.total_cents)}")
    text.append(f"Amount paid: {money(inv.amount_paid_cents)}")
    note = footer(details)
    if note:
        text += ["", note]
    return "\n".join(text)
