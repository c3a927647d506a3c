"""The simulator's state rendered as Stripe JSON (API 2025+ shapes).

Periods sit on subscription items, an invoice names its subscription and the subscription's
metadata under ``parent.subscription_details``, lines carry
``parent.subscription_item_details.proration`` (``parent.invoice_item_details`` for a
one-off price) and ``pricing.price_details.price`` (the price expanded, so its lookup key
is there). One extra, non-Stripe field: a subscription's
``scheduled_price_lookup_key`` (the price a pending schedule switches to at renewal).
No personal data is rendered except on the customer object itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import stripe

from adapters.payments.simulator.prices import SimPrice
from db.simulator_models import (
    SimCheckoutSession,
    SimCustomer,
    SimInvoice,
    SimPaymentMethod,
    SimSubscription,
)

# The API version the events claim: the one the installed stripe SDK speaks.
API_VERSION: str = stripe.api_version

Json = dict[str, Any]

TIMES = "\u00d7"  # Stripe's multiplication sign in line descriptions


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def money(cents: int, currency: str) -> str:
    if currency.lower() == "usd":
        return f"${cents / 100:,.2f}"
    return f"{cents / 100:,.2f} {currency.upper()}"


def price(p: SimPrice) -> Json:
    return {
        "id": p.id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "currency": p.currency,
        "livemode": False,
        "lookup_key": p.lookup_key,
        "metadata": {},
        "nickname": p.product_name,
        "product": p.product_id,
        "recurring": {
            "interval": p.interval.value,
            "interval_count": 1,
            "usage_type": "licensed",
        }
        if p.interval
        else None,
        "tax_behavior": "unspecified",
        "type": "recurring" if p.interval else "one_time",
        "unit_amount": p.amount_cents,
        "unit_amount_decimal": str(p.amount_cents),
    }


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
    ``invoice_item_id`` is given."""
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
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price(p), "product": p.product_id},
            "unit_amount_decimal": str(p.amount_cents),
        },
        "quantity": quantity,
        "taxes": [],
    }


def customer(c: SimCustomer) -> Json:
    return {
        "id": c.id,
        "object": "customer",
        "address": c.address,
        "balance": c.balance_cents,
        "created": unix(c.created_at),
        "email": c.email,
        "invoice_prefix": "SIM",
        "invoice_settings": {"default_payment_method": c.default_payment_method_id},
        "livemode": False,
        "metadata": {"customer_id": c.engine_customer_id} if c.engine_customer_id else {},
        "name": c.name,
        "test_clock": None,
    }


def payment_method(pm: SimPaymentMethod) -> Json:
    return {
        "id": pm.id,
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": pm.brand,
            "country": "US",
            "exp_month": pm.exp_month,
            "exp_year": pm.exp_year,
            "funding": "credit",
            "last4": pm.last4,
        },
        "created": unix(pm.created_at),
        "customer": pm.customer_id,
        "livemode": False,
        "metadata": {"test_payment_method": pm.source},
        "type": "card",
    }


def subscription(
    sub: SimSubscription,
    prices: dict[str, SimPrice],
    *,
    latest_invoice: Json | None = None,
) -> Json:
    """``prices`` maps every lookup key the subscription uses to its price."""
    start, end = unix(sub.current_period_start), unix(sub.current_period_end)
    items: list[dict[str, Any]] = [
        {"id": sub.plan_item_id, "price": sub.price_lookup_key, "quantity": 1}
    ]
    items += list(sub.items or [])
    rendered_items = [
        {
            "id": item["id"],
            "object": "subscription_item",
            "created": unix(sub.created_at),
            "current_period_start": start,
            "current_period_end": end,
            "discounts": [],
            "metadata": {},
            "price": price(prices[item["price"]]),
            "quantity": int(item.get("quantity") or 1),
            "subscription": sub.id,
            "tax_rates": [],
        }
        for item in items
    ]
    pause = (
        {"behavior": sub.pause_behavior, "resumes_at": unix(sub.pause_resumes_at)}
        if sub.pause_behavior
        else None
    )
    return {
        "id": sub.id,
        "object": "subscription",
        "billing_cycle_anchor": unix(sub.billing_cycle_anchor),
        "cancel_at": unix(sub.current_period_end) if sub.cancel_at_period_end else None,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": unix(sub.canceled_at),
        "collection_method": "charge_automatically",
        "created": unix(sub.created_at),
        "currency": sub.currency,
        "customer": sub.customer_id,
        "default_payment_method": None,
        "discounts": [],
        "ended_at": unix(sub.ended_at),
        "items": {
            "object": "list",
            "data": rendered_items,
            "has_more": False,
            "total_count": len(rendered_items),
            "url": f"/v1/subscription_items?subscription={sub.id}",
        },
        "latest_invoice": latest_invoice if latest_invoice is not None else sub.latest_invoice_id,
        "livemode": False,
        "metadata": dict(sub.meta or {}),
        "pause_collection": pause,
        "schedule": None,
        "scheduled_price_lookup_key": sub.scheduled_price_lookup_key,
        "start_date": unix(sub.created_at),
        "status": sub.status,
        "test_clock": None,
        "trial_end": None,
        "trial_start": None,
    }


def invoice(inv: SimInvoice, *, base_url: str, subscription_id: str | None = None) -> Json:
    subscription_id = subscription_id or inv.subscription_id
    lines = list(inv.lines or [])
    return {
        "id": inv.id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": inv.amount_due_cents,
        "amount_paid": inv.amount_paid_cents,
        "amount_remaining": inv.amount_remaining_cents,
        "attempt_count": inv.attempt_count,
        "attempted": inv.attempted,
        "auto_advance": inv.status == "open",
        "billing_reason": inv.billing_reason,
        "collection_method": "charge_automatically",
        "created": unix(inv.created_at),
        "currency": inv.currency,
        "customer": inv.customer_id,
        "discounts": [f"di_sim_{inv.coupon}"] if inv.coupon else [],
        "ending_balance": inv.ending_balance_cents,
        "hosted_invoice_url": f"{base_url}/v1/simulator/invoices/{inv.id}",
        "invoice_pdf": f"{base_url}/v1/simulator/invoices/{inv.id}/pdf",
        # Not on Stripe's invoice (it lives on the payment): what the last attempt failed with.
        "last_payment_error": inv.last_payment_error,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{inv.id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": unix(inv.next_payment_attempt),
        "number": inv.number,
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
        "period_end": unix(inv.period_end),
        "period_start": unix(inv.period_start),
        "starting_balance": inv.starting_balance_cents,
        "status": inv.status,
        "status_transitions": {
            "finalized_at": unix(inv.finalized_at),
            "marked_uncollectible_at": None,
            "paid_at": unix(inv.paid_at),
            "voided_at": unix(inv.voided_at),
        },
        "subtotal": inv.subtotal_cents,
        "total": inv.total_cents,
        "total_discount_amounts": [
            {"amount": inv.discount_cents, "discount": f"di_sim_{inv.coupon}"}
        ]
        if inv.coupon
        else [],
        "total_taxes": [],
    }


def checkout_session(cs: SimCheckoutSession, *, invoice_id: str | None = None) -> Json:
    complete = cs.status == "complete"
    return {
        "id": cs.id,
        "object": "checkout.session",
        "cancel_url": cs.cancel_url,
        "client_reference_id": cs.engine_customer_id,
        "created": unix(cs.created_at),
        "currency": "usd",
        "customer": cs.customer_id,
        "expires_at": unix(cs.expires_at),
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {"customer_id": cs.engine_customer_id} if cs.engine_customer_id else {},
        "mode": "subscription",
        "payment_status": "paid" if complete else "unpaid",
        "status": cs.status,
        "subscription": cs.subscription_id,
        "success_url": cs.success_url,
        "url": None if complete else cs.url,
    }


def event(event_id: str, type_: str, created: datetime, obj: Json) -> Json:
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": unix(created),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
