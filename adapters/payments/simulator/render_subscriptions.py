"""Subscriptions, their schedules, and the hosted sessions that make and manage them, as
Stripe renders them at ``STRIPE_API_VERSION`` (see ``render``)."""

from __future__ import annotations

from adapters.payments.simulator.cards import LEGACY_CHECKOUT_METHODS
from adapters.payments.simulator.models import (
    SimCheckoutSession,
    SimSubscription,
    SimSubscriptionSchedule,
)
from adapters.payments.simulator.prices import SimPrice
from adapters.payments.simulator.render import SELF, Json, listing, price, unix


def _item(sub: SimSubscription, item: Json, p: SimPrice) -> Json:
    return {
        "id": item["id"],
        "object": "subscription_item",
        "created": unix(sub.created_at),
        "current_period_start": unix(sub.current_period_start),
        "current_period_end": unix(sub.current_period_end),
        "discounts": [],
        "metadata": {},
        "price": price(p),
        "quantity": int(item.get("quantity") or 1),
        "subscription": sub.id,
        "tax_rates": [],
    }


def subscription(
    sub: SimSubscription,
    prices: dict[str, SimPrice],
    *,
    latest_invoice: Json | None = None,
    schedule: Json | None = None,
) -> Json:
    """``prices`` maps every lookup key the subscription uses to its price; ``latest_invoice``
    and ``schedule`` are the expanded objects, when asked for."""
    items: list[Json] = [{"id": sub.plan_item_id, "price": sub.price_lookup_key, "quantity": 1}]
    items += list(sub.items or [])
    rendered_items = [_item(sub, item, prices[str(item["price"])]) for item in items]
    pause = (
        {"behavior": sub.pause_behavior, "resumes_at": unix(sub.pause_resumes_at)}
        if sub.pause_behavior
        else None
    )
    # The flag means "at the period end"; Stripe reports that moment in ``cancel_at`` too.
    cancel_at = sub.cancel_at or (sub.current_period_end if sub.cancel_at_period_end else None)
    return {
        "id": sub.id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": unix(sub.billing_cycle_anchor),
        "billing_cycle_anchor_config": None,
        "billing_mode": {
            "type": "flexible",
            "flexible": {"proration_discounts": "included"},
            "updated_at": unix(sub.created_at),
        },
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": unix(cancel_at),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": unix(sub.canceled_at),
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "reason": sub.cancellation_reason,
        },
        "collection_method": "charge_automatically",
        "created": unix(sub.created_at),
        "currency": sub.currency,
        "customer": sub.customer_id,
        "days_until_due": None,
        "default_payment_method": sub.default_payment_method_id,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        # A discount id (not expanded), as the invoice that takes it shows it.
        "discounts": [f"di_sim_{sub.next_invoice_coupon}"] if sub.next_invoice_coupon else [],
        "ended_at": unix(sub.ended_at),
        "invoice_settings": {"account_tax_ids": None, "issuer": SELF},
        "items": listing(rendered_items, f"/v1/subscription_items?subscription={sub.id}"),
        "latest_invoice": latest_invoice if latest_invoice is not None else sub.latest_invoice_id,
        "livemode": False,
        "metadata": dict(sub.meta or {}),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": pause,
        "payment_settings": None,
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": schedule if schedule is not None else sub.schedule_id,
        "start_date": unix(sub.created_at),
        "status": sub.status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def subscription_schedule(
    schedule: SimSubscriptionSchedule,
    prices: dict[str, SimPrice],
    *,
    expand_prices: bool = False,
) -> Json:
    """Phases name their prices by id; with ``expand_prices`` (``expand[]=phases.items.price``)
    the price objects, whose lookup keys the engine reads."""
    phases = list(schedule.phases or [])
    current = None
    if schedule.status == "active":
        # The phase in progress: the latest one that has started.
        started = [p for p in phases if p.get("current")] or phases[:1]
        current = {"start_date": started[-1]["start"], "end_date": started[-1]["end"]}
    rendered_phases = []
    for phase in phases:
        p = prices[str(phase["price"])]
        rendered_phases.append(
            {
                "add_invoice_items": [],
                "application_fee_percent": None,
                "billing_cycle_anchor": None,
                "billing_thresholds": None,
                "collection_method": None,
                "currency": p.currency,
                "default_payment_method": None,
                "default_tax_rates": [],
                "description": None,
                "discounts": [],
                "end_date": phase["end"],
                "invoice_settings": None,
                "items": [
                    {
                        "billing_thresholds": None,
                        "discounts": [],
                        "metadata": {},
                        "price": price(p) if expand_prices else p.id,
                        "quantity": 1,
                        "tax_rates": [],
                    }
                ],
                "metadata": {},
                "on_behalf_of": None,
                "proration_behavior": "none",
                "start_date": phase["start"],
                "transfer_data": None,
                "trial_end": None,
            }
        )
    released = schedule.status == "released"
    return {
        "id": schedule.id,
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": {
            "type": "flexible",
            "flexible": {"proration_discounts": "included"},
            "updated_at": unix(schedule.created_at),
        },
        "canceled_at": unix(schedule.canceled_at),
        "completed_at": None,
        "created": unix(schedule.created_at),
        "current_phase": current,
        "customer": schedule.customer_id,
        "default_settings": {
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "description": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "days_until_due": None,
                "issuer": SELF,
            },
            "on_behalf_of": None,
            "transfer_data": None,
        },
        "end_behavior": "release",
        "livemode": False,
        "metadata": {},
        "phases": rendered_phases,
        "released_at": unix(schedule.released_at),
        "released_subscription": schedule.subscription_id if released else None,
        "status": schedule.status,
        "subscription": None if released else schedule.subscription_id,
        "test_clock": None,
    }


def checkout_session(cs: SimCheckoutSession, *, amount_total: int | None = None) -> Json:
    complete = cs.status == "complete"
    return {
        "id": cs.id,
        "object": "checkout.session",
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "cancel_url": cs.cancel_url,
        "client_reference_id": cs.engine_customer_id,
        "created": unix(cs.created_at),
        "currency": cs.currency or "usd",
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": cs.customer_id,
        "expires_at": unix(cs.expires_at),
        "invoice": cs.invoice_id,
        "livemode": False,
        "metadata": {"customer_id": cs.engine_customer_id} if cs.engine_customer_id else {},
        "mode": "subscription",
        "payment_method_types": list(cs.payment_method_types or LEGACY_CHECKOUT_METHODS),
        "payment_status": cs.payment_status,
        "shipping_options": [],
        "status": cs.status,
        "subscription": cs.subscription_id,
        "success_url": cs.success_url,
        "url": None if complete else cs.url,
    }


def portal_session(cs: SimCheckoutSession) -> Json:
    return {
        "id": cs.id,
        "object": "billing_portal.session",
        "configuration": "bpc_sim_default",
        "created": unix(cs.created_at),
        "customer": cs.customer_id,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": cs.return_url,
        "url": cs.url,
    }
