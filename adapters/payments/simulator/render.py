"""The simulator's state rendered as Stripe JSON at ``STRIPE_API_VERSION``.

Every object validates against that version's OpenAPI schema (``tests/contract``): each
field Stripe requires is there, and none Stripe does not know. Periods sit on subscription
items; an invoice names its subscription under ``parent.subscription_details`` and its
payments under ``payments`` (an ``invoice_payment`` per PaymentIntent, which holds the last
attempt's decline); lines carry ``parent.subscription_item_details`` (or
``invoice_item_details``) and ``pricing.price_details.price``. Expandable fields are ids
unless the caller passes the expanded object, as Stripe does on ``expand[]``; events never
expand. No personal data is rendered except on the customer object itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.payments.base import STRIPE_API_VERSION
from adapters.payments.simulator.cards import local_method_details
from adapters.payments.simulator.models import (
    SimCustomer,
    SimInvoice,
    SimPaymentMethod,
)
from adapters.payments.simulator.prices import SimPrice
from domain.locales import format_amount
from domain.tax.calculation import REVERSE_CHARGE_NOTE

API_VERSION: str = STRIPE_API_VERSION

Json = dict[str, Any]

TIMES = "\u00d7"  # Stripe's multiplication sign in line descriptions

# Prices come from the catalog, not from a create call: one fixed creation time.
PRICE_CREATED = 1767225600  # 2026-01-01T00:00:00Z

SELF = {"type": "self"}


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def money(cents: int, currency: str) -> str:
    """In the currency's own minor unit (``$99.00``, ``¥14,800``), as Stripe's descriptions."""
    return format_amount(cents, currency)


def listing(data: list[Json], url: str) -> Json:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def price(p: SimPrice, *, expand_currency_options: bool = False) -> Json:
    """The Price object in its own currency (a subscription in another pays its
    ``currency_options`` amount); ``currency_options`` only when expanded, as Stripe."""
    amount = p.amount_cents if p.list_amount_cents is None else p.list_amount_cents
    rendered: Json = {
        "id": p.id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": PRICE_CREATED,
        "currency": p.list_currency or p.currency,
        "livemode": False,
        "lookup_key": p.lookup_key,
        "metadata": {},
        "nickname": p.product_name,
        "product": p.product_id,
        "recurring": {
            "interval": p.interval.value,
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
        }
        if p.interval
        else None,
        "tax_behavior": p.tax_behaviors.get(p.list_currency or p.currency, "unspecified"),
        "type": "recurring" if p.interval else "one_time",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }
    if expand_currency_options:
        rendered["currency_options"] = {
            code: {
                "custom_unit_amount": None,
                "tax_behavior": p.tax_behaviors.get(code, "unspecified"),
                "unit_amount": option,
                "unit_amount_decimal": str(option),
            }
            for code, option in (p.currency_options or {p.currency: amount}).items()
        }
    return rendered


def price_description(p: SimPrice, quantity: int = 1) -> str:
    """Stripe's wording for a full-period line: ``1 \u00d7 Pro (at $99.00 / month)``."""
    per = f" / {p.interval.value}" if p.interval else ""
    return f"{quantity} {TIMES} {p.product_name} (at {money(p.amount_cents, p.currency)}{per})"


def invoice_line(
    *,
    line_id: str,
    invoice_id: str,
    p: SimPrice,
    amount_cents: int,
    description: str,
    period_start: datetime,
    period_end: datetime,
    proration: bool,
    subscription_id: str | None,
    subscription_item_id: str | None,
    quantity: int = 1,
    invoice_item_id: str | None = None,
) -> Json:
    """A line of a subscription item, or of an invoice item (a one-off price) when
    ``invoice_item_id`` is given. The price is expanded: lines are stored as rendered, and
    the gateway's own answers read lookup keys from them."""
    if invoice_item_id is not None:
        parent: Json = {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": invoice_item_id,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
            },
            "subscription_item_details": None,
        }
    else:
        parent = {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
                "subscription_item": subscription_item_id,
            },
        }
    return {
        "id": line_id,
        "object": "line_item",
        "amount": amount_cents,
        "currency": p.currency,
        "description": description,
        "discount_amounts": [],
        "discountable": not proration,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": parent,
        "period": {"start": unix(period_start), "end": unix(period_end)},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price(p), "product": p.product_id},
            "unit_amount_decimal": str(p.amount_cents),
        },
        "quantity": quantity,
        "subtotal": amount_cents,
        "taxes": [],
    }


def customer(c: SimCustomer) -> Json:
    return {
        "id": c.id,
        "object": "customer",
        "address": c.address,
        "balance": c.balance_cents,
        "created": unix(c.created_at),
        "currency": c.currency,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": c.email,
        "invoice_prefix": "SIM",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": c.default_payment_method_id,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {"customer_id": c.engine_customer_id} if c.engine_customer_id else {},
        "name": c.name,
        "next_invoice_sequence": c.invoice_sequence + 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def payment_method(pm: SimPaymentMethod) -> Json:
    obj: Json = {
        "id": pm.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": None,
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "created": unix(pm.created_at),
        "customer": pm.customer_id,
        "livemode": False,
        "metadata": {},
        "type": pm.type,
    }
    local = local_method_details(pm.type, pm.source)
    if local is not None:
        obj[pm.type] = local
    elif pm.type == "sepa_debit":
        obj["sepa_debit"] = {
            "bank_code": "37040044",
            "branch_code": "",
            "country": "DE",
            "fingerprint": f"fp_{pm.source}",
            "generated_from": None,
            "last4": pm.last4,
        }
    else:
        obj["card"] = {
            "brand": pm.brand,
            "checks": None,
            "country": "US",
            "display_brand": pm.brand,
            "exp_month": pm.exp_month,
            "exp_year": pm.exp_year,
            "fingerprint": f"fp_{pm.source}",
            "funding": "credit",
            "generated_from": None,
            "last4": pm.last4,
            "networks": None,
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        }
    return obj


def invoice(
    inv: SimInvoice,
    *,
    base_url: str,
    payments: list[Json] | None = None,
    subscription_id: str | None = None,
) -> Json:
    subscription_id = subscription_id or inv.subscription_id
    lines = list(inv.lines or [])
    # Tax and the parties' legal details, frozen at finalization (``taxes.tax_details``).
    details = inv.tax_details or {}
    return {
        "id": inv.id,
        "object": "invoice",
        "account_country": "US",
        "account_name": details.get("account_name"),
        "account_tax_ids": [str(t["id"]) for t in details.get("account_tax_ids") or []],
        "amount_due": inv.amount_due_cents,
        "amount_overpaid": 0,
        "amount_paid": inv.amount_paid_cents,
        "amount_paid_off_stripe": 0,
        "amount_remaining": inv.amount_remaining_cents,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": inv.attempt_count,
        "attempted": inv.attempted,
        "auto_advance": inv.status == "open",
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": bool(details.get("automatic_tax")),
            "liability": SELF if details.get("automatic_tax") else None,
            "provider": "stripe" if details.get("automatic_tax") else None,
            "status": (
                ("complete" if details.get("location_known") else "requires_location_inputs")
                if details.get("automatic_tax")
                else None
            ),
        },
        "billing_reason": inv.billing_reason,
        "collection_method": "charge_automatically",
        "created": unix(inv.created_at),
        "currency": inv.currency,
        "customer": inv.customer_id,
        "customer_address": _address(details.get("customer_address")),
        "customer_name": details.get("customer_name"),
        "customer_tax_exempt": ("reverse" if details.get("reverse_charge") else "none")
        if details
        else None,
        "customer_tax_ids": [
            {"type": t["type"], "value": t["value"]} for t in details.get("customer_tax_ids") or []
        ],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [f"di_sim_{inv.coupon}"] if inv.coupon else [],
        "due_date": None,
        "effective_at": unix(inv.finalized_at),
        "ending_balance": inv.ending_balance_cents,
        "footer": REVERSE_CHARGE_NOTE if details.get("reverse_charge") else None,
        "hosted_invoice_url": f"{base_url}/v1/simulator/invoices/{inv.id}",
        "invoice_pdf": f"{base_url}/v1/simulator/invoices/{inv.id}/pdf",
        "issuer": SELF,
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": listing(lines, f"/v1/invoices/{inv.id}/lines"),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": unix(inv.next_payment_attempt),
        "number": inv.number,
        "on_behalf_of": None,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(inv.meta or {}),
                "subscription": subscription_id,
            },
        }
        if subscription_id
        else None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "payments": listing(payments or [], f"/v1/invoice_payments?invoice={inv.id}"),
        "period_end": unix(inv.period_end),
        "period_start": unix(inv.period_start),
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "starting_balance": inv.starting_balance_cents,
        "statement_descriptor": None,
        "status": inv.status,
        "status_transitions": {
            "finalized_at": unix(inv.finalized_at),
            "marked_uncollectible_at": unix(inv.marked_uncollectible_at),
            "paid_at": unix(inv.paid_at),
            "voided_at": unix(inv.voided_at),
        },
        "subtotal": inv.subtotal_cents,
        "subtotal_excluding_tax": details.get("subtotal_excluding_tax", inv.subtotal_cents),
        "test_clock": None,
        "total": inv.total_cents,
        "total_discount_amounts": [
            {"amount": inv.discount_cents, "discount": f"di_sim_{inv.coupon}"}
        ]
        if inv.coupon
        else [],
        "total_excluding_tax": inv.total_cents - (inv.tax_cents or 0),
        "total_pretax_credit_amounts": [],
        "total_taxes": list(details.get("total_taxes") or []),
        "webhooks_delivered_at": unix(inv.created_at),
    }


def _address(stored: Json | None) -> Json | None:
    """A stored address as Stripe's ``address`` (every field present)."""
    if not stored:
        return None
    keys = ("city", "country", "line1", "line2", "postal_code", "state")
    return {key: stored.get(key) for key in keys}


def event(
    event_id: str,
    type_: str,
    created: datetime,
    obj: Json,
    previous_attributes: Json | None = None,
) -> Json:
    data: Json = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": unix(created),
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
