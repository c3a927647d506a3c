"""Parse Stripe-shaped JSON (API objects and webhook events) into the gateway's values.

Shared by the Stripe adapter, the webhook endpoint and the simulator (which renders the
same shapes). One API version, ``STRIPE_API_VERSION``: the shapes are that version's (periods
on subscription items, an invoice's subscription under ``parent.subscription_details``, its
payments under ``payments``), with no fallback to older ones; the webhook endpoint refuses
events rendered at another version. Personal data (emails, names, addresses) is never
copied out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.payments import (
    PLAN_PRICE_PREFIX,
    InvoiceInfo,
    InvoiceLine,
    InvoiceTaxInfo,
    PaymentEvent,
    PaymentMethodInfo,
    PriceRef,
    SubscriptionInfo,
    SubscriptionItemInfo,
)

Obj = Mapping[str, Any]


def ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def _id(value: Any) -> str | None:
    """An expandable field: either an id or the expanded object."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return str(value.get("id")) if value.get("id") else None
    return str(value)


def _data(listing: Any) -> list[Obj]:
    if isinstance(listing, Mapping):
        return list(listing.get("data") or [])
    if isinstance(listing, list):
        return listing
    return []


def _price_lookup_key(price: Any) -> str | None:
    if isinstance(price, Mapping):
        key = price.get("lookup_key")
        return str(key) if key else None
    return None


def parse_subscription(obj: Obj) -> SubscriptionInfo:
    items = _data(obj.get("items"))
    plan_item = next(
        (
            i
            for i in items
            if (_price_lookup_key(i.get("price")) or "").startswith(PLAN_PRICE_PREFIX)
        ),
        items[0] if items else None,
    )
    period_source: Obj = plan_item or {}
    pause = obj.get("pause_collection") or None
    status = str(obj.get("status"))
    cancel_at = ts(obj.get("cancel_at"))
    details = obj.get("cancellation_details") or {}
    schedule = obj.get("schedule")
    scheduled = scheduled_lookup_key(schedule) if isinstance(schedule, Mapping) else None
    latest = obj.get("latest_invoice")
    metadata = obj.get("metadata") or {}
    start = ts(period_source.get("current_period_start"))
    end = ts(period_source.get("current_period_end"))
    if start is None or end is None:
        raise ValueError(f"subscription {obj.get('id')} has no current period")
    return SubscriptionInfo(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        status=status,
        price=PriceRef.from_lookup_key(_price_lookup_key(plan_item.get("price")))
        if plan_item
        else None,
        current_period_start=start,
        current_period_end=end,
        # Classic mode sets the flag; flexible mode (the Portal) sets ``cancel_at``.
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")) or cancel_at is not None,
        canceled_at=ts(obj.get("canceled_at")),
        # ``status: paused`` (the pause endpoint, a trial ending without a card) or
        # ``pause_collection`` (collection paused, the subscription still active).
        paused=pause is not None or status == "paused",
        pause_resumes_at=ts(pause.get("resumes_at")) if isinstance(pause, Mapping) else None,
        scheduled_price=PriceRef.from_lookup_key(scheduled) if scheduled else None,
        items=tuple(
            SubscriptionItemInfo(
                id=str(i.get("id")),
                price_lookup_key=_price_lookup_key(i.get("price")),
                quantity=int(i.get("quantity") or 1),
            )
            for i in items
        ),
        latest_invoice=parse_invoice(latest) if isinstance(latest, Mapping) else None,
        engine_customer_id=str(metadata["customer_id"]) if metadata.get("customer_id") else None,
        cancel_at=cancel_at,
        cancellation_reason=details.get("reason") if isinstance(details, Mapping) else None,
        default_payment_method=_id(obj.get("default_payment_method")),
        currency=str(obj["currency"]).lower() if obj.get("currency") else None,
    )


def scheduled_lookup_key(schedule: Obj) -> str | None:
    """The plan price's lookup key in a live schedule's next phase (prices expanded)."""
    if schedule.get("status") not in ("not_started", "active"):
        return None
    boundary = (schedule.get("current_phase") or {}).get("end_date")
    upcoming = sorted(
        (
            phase
            for phase in schedule.get("phases") or []
            if boundary is None or int(phase.get("start_date") or 0) >= int(boundary)
        ),
        key=lambda phase: int(phase.get("start_date") or 0),
    )
    for phase in upcoming[:1]:
        for item in phase.get("items") or []:
            key = _price_lookup_key(item.get("price"))
            if key and key.startswith(PLAN_PRICE_PREFIX):
                return key
    return None


def _invoice_subscription(obj: Obj) -> str | None:
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    if isinstance(details, Mapping):
        return _id(details.get("subscription"))
    return None


def _line(obj: Obj) -> InvoiceLine:
    period = obj.get("period") or {}
    parent = obj.get("parent") or {}
    item_details: Obj = {}
    if isinstance(parent, Mapping):
        item_details = (
            parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
        )
    proration = bool(obj.get("proration")) or bool(item_details.get("proration"))
    pricing = obj.get("pricing") or {}
    price = (
        (pricing.get("price_details") or {}).get("price") if isinstance(pricing, Mapping) else None
    )
    return InvoiceLine(
        description=str(obj.get("description") or ""),
        amount_cents=int(obj.get("amount") or 0),
        proration=proration,
        period_start=ts(period.get("start")),
        period_end=ts(period.get("end")),
        price_lookup_key=_price_lookup_key(price),
        quantity=int(obj.get("quantity") or 1),
        price_id=_id(price),
    )


def _latest_payment(obj: Obj) -> tuple[Obj | None, str | None]:
    """The PaymentIntent of the invoice's latest payment: the object when expanded, and its
    id either way."""
    payments = sorted(_data(obj.get("payments")), key=lambda p: int(p.get("created") or 0))
    for payment in reversed(payments):
        intent = (payment.get("payment") or {}).get("payment_intent")
        return (intent if isinstance(intent, Mapping) else None), _id(intent)
    return None, None


def parse_invoice(obj: Obj) -> InvoiceInfo:
    transitions = obj.get("status_transitions") or {}
    intent, intent_id = _latest_payment(obj)
    error = (intent or {}).get("last_payment_error") or {}
    return InvoiceInfo(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        subscription=_invoice_subscription(obj),
        number=obj.get("number"),
        status=str(obj.get("status")),
        currency=str(obj.get("currency") or "usd"),
        subtotal_cents=int(obj.get("subtotal") or 0),
        total_cents=int(obj.get("total") or 0),
        amount_due_cents=int(obj.get("amount_due") or 0),
        amount_paid_cents=int(obj.get("amount_paid") or 0),
        amount_remaining_cents=int(obj.get("amount_remaining") or 0),
        billing_reason=obj.get("billing_reason"),
        created=ts(obj.get("created")) or datetime.now(UTC),
        period_start=ts(obj.get("period_start")),
        period_end=ts(obj.get("period_end")),
        paid_at=ts(transitions.get("paid_at")) if isinstance(transitions, Mapping) else None,
        hosted_invoice_url=obj.get("hosted_invoice_url"),
        invoice_pdf=obj.get("invoice_pdf"),
        attempt_count=int(obj.get("attempt_count") or 0),
        next_payment_attempt=ts(obj.get("next_payment_attempt")),
        decline_code=error.get("decline_code") or error.get("code")
        if isinstance(error, Mapping)
        else None,
        lines=tuple(_line(line) for line in _data(obj.get("lines"))),
        payment_intent=intent_id,
        requires_action=intent is not None and intent.get("status") == "requires_action",
        **_invoice_tax(obj),
    )


def _invoice_tax(obj: Obj) -> dict[str, Any]:
    """The invoice's tax (Stripe Tax's or the simulator's): ``total_taxes`` per rate, the
    buyer's tax ids and the reverse charge (a ``reverse_charge`` taxability, or the
    customer's ``reverse`` exemption)."""
    taxes = tuple(_tax(entry) for entry in obj.get("total_taxes") or [])
    excluding = obj.get("total_excluding_tax")
    reverse = obj.get("customer_tax_exempt") == "reverse" or any(
        t.taxability_reason == "reverse_charge" for t in taxes
    )
    return {
        "tax_cents": sum(t.amount_cents for t in taxes),
        "total_excluding_tax_cents": int(excluding) if excluding is not None else None,
        "taxes": taxes,
        "customer_tax_ids": tuple(
            (str(t.get("type")), str(t.get("value") or ""))
            for t in obj.get("customer_tax_ids") or []
        ),
        "reverse_charge": reverse,
    }


def _tax(entry: Obj) -> InvoiceTaxInfo:
    rate = (entry.get("tax_rate_details") or {}).get("tax_rate")
    expanded: Obj = rate if isinstance(rate, Mapping) else {}
    percentage = expanded.get("percentage")
    return InvoiceTaxInfo(
        amount_cents=int(entry.get("amount") or 0),
        taxable_amount_cents=int(entry["taxable_amount"])
        if entry.get("taxable_amount") is not None
        else None,
        tax_behavior=str(entry.get("tax_behavior") or "exclusive"),
        taxability_reason=str(entry.get("taxability_reason") or ""),
        tax_rate=_id(rate),
        display_name=expanded.get("display_name"),
        # As text: a float percentage (19.0, 9.975) printed exactly as Stripe gives it.
        percentage=str(percentage) if percentage is not None else None,
        jurisdiction=expanded.get("jurisdiction"),
    )


def parse_payment_method(obj: Obj) -> PaymentMethodInfo:
    card = obj.get("card") or {}
    return PaymentMethodInfo(
        id=str(obj["id"]),
        brand=card.get("brand"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
    )


def is_preview(obj: Obj) -> bool:
    """``invoice.upcoming`` carries a preview, not an invoice: no id, or ``upcoming_in_...``."""
    invoice_id = obj.get("id")
    return not invoice_id or str(invoice_id).startswith("upcoming_")


def parse_event(event: Obj) -> PaymentEvent:
    """A webhook event. Unknown types parse too (with no objects) so the inbox records them."""
    data = event.get("data") or {}
    obj: Obj = data.get("object") or {}
    previous: Obj = data.get("previous_attributes") or {}
    kind = str(obj.get("object") or "")
    created = ts(event.get("created")) or datetime.now(UTC)
    subscription = invoice = payment_method = None
    engine_customer_id = None
    checkout_subscription = subscription_id = invoice_id = None
    extra: dict[str, Any] = {}
    provider_customer = obj.get("id") if kind == "customer" else _id(obj.get("customer"))
    if kind == "subscription":
        subscription = parse_subscription(obj)
        engine_customer_id = subscription.engine_customer_id
        subscription_id = subscription.id
    elif kind == "invoice":
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
        engine_customer_id = ((details or {}).get("metadata") or {}).get("customer_id")
        subscription_id = _invoice_subscription(obj)
        if not is_preview(obj):
            invoice = parse_invoice(obj)
            invoice_id = invoice.id
    elif kind == "subscription_schedule":
        subscription_id = _id(obj.get("subscription"))
        engine_customer_id = (obj.get("metadata") or {}).get("customer_id")
    elif kind == "checkout.session":
        engine_customer_id = obj.get("client_reference_id") or (obj.get("metadata") or {}).get(
            "customer_id"
        )
        checkout_subscription = subscription_id = _id(obj.get("subscription"))
    elif kind == "payment_method":
        payment_method = parse_payment_method(obj)
        # A detached card no longer names its customer; the event says whose it was.
        provider_customer = provider_customer or _id(previous.get("customer"))
    elif kind == "customer":
        engine_customer_id = (obj.get("metadata") or {}).get("customer_id")
    elif kind in ("charge", "dispute"):
        extra = {
            "payment_intent": _id(obj.get("payment_intent")),
            "charge": str(obj["id"]) if kind == "charge" else _id(obj.get("charge")),
            "amount_cents": int(obj.get("amount") or 0),
            "amount_refunded_cents": int(obj.get("amount_refunded") or 0),
            "currency": obj.get("currency"),
            "reason": obj.get("reason") if kind == "dispute" else None,
        }
    return PaymentEvent(
        id=str(event["id"]),
        type=str(event.get("type")),
        created=created,
        provider_customer_id=provider_customer,
        engine_customer_id=str(engine_customer_id) if engine_customer_id else None,
        subscription=subscription,
        invoice=invoice,
        checkout_subscription_id=checkout_subscription,
        payment_method=payment_method,
        extra=extra,
        object_type=kind or None,
        object_id=_id(obj.get("id")),
        subscription_id=subscription_id,
        invoice_id=invoice_id,
        api_version=event.get("api_version"),
    )
