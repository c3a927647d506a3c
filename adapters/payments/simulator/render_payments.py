"""Payments rendered as Stripe JSON at ``STRIPE_API_VERSION``: PaymentIntents (which hold
an attempt's decline or its wait for 3-D Secure), the invoice payments that link them to
invoices, charges (which no longer name an invoice) and disputes."""

from __future__ import annotations

from datetime import datetime

from adapters.payments.simulator.models import SimCharge, SimPaymentIntent
from adapters.payments.simulator.render import Json, unix


def payment_intent(pi: SimPaymentIntent, payment_method_types: list[str]) -> Json:
    """``payment_method_types``: what the intent may be paid with
    (``SimulatorCore._intent_methods``)."""
    action = (
        {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": ""},
        }
        if pi.status == "requires_action"
        else None
    )
    return {
        "id": pi.id,
        "object": "payment_intent",
        "amount": pi.amount_cents,
        "amount_capturable": 0,
        "amount_received": pi.amount_received_cents,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": unix(pi.canceled_at),
        "cancellation_reason": "void_invoice" if pi.status == "canceled" else None,
        "capture_method": "automatic",
        "client_secret": f"{pi.id}_secret_sim",
        "confirmation_method": "automatic",
        "created": unix(pi.created_at),
        "currency": pi.currency,
        "customer": pi.customer_id,
        "description": "Subscription update",
        "last_payment_error": pi.last_payment_error,
        "latest_charge": pi.latest_charge_id,
        "livemode": False,
        "metadata": {},
        "next_action": action,
        "on_behalf_of": None,
        "payment_method": pi.payment_method_id,
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": None,
        "setup_future_usage": "off_session",
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": pi.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def invoice_payment(
    pi: SimPaymentIntent, *, expanded_with_methods: list[str] | None = None
) -> Json:
    """The ``invoice_payment`` joining an invoice and its PaymentIntent (the intent
    expanded on ``expand[]=payments.data.payment.payment_intent``: given its payment
    method types)."""
    paid = pi.status == "succeeded"
    status = "paid" if paid else "canceled" if pi.status == "canceled" else "open"
    return {
        "id": pi.invoice_payment_id,
        "object": "invoice_payment",
        "amount_paid": pi.amount_received_cents if paid else None,
        "amount_requested": pi.amount_cents,
        "created": unix(pi.created_at),
        "currency": pi.currency,
        "invoice": pi.invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": {
            "type": "payment_intent",
            "payment_intent": (
                payment_intent(pi, expanded_with_methods)
                if expanded_with_methods is not None
                else pi.id
            ),
        },
        "status": status,
        "status_transitions": {
            "canceled_at": unix(pi.canceled_at),
            "paid_at": unix(pi.succeeded_at),
        },
    }


def charge(ch: SimCharge, *, base_url: str) -> Json:
    """A Charge; since 2025 it does not name its invoice (the PaymentIntent does, through
    ``invoice_payments``)."""
    succeeded = ch.status == "succeeded"
    failed = ch.status == "failed"
    return {
        "id": ch.id,
        "object": "charge",
        "amount": ch.amount_cents,
        "amount_captured": ch.amount_cents if succeeded else 0,
        "amount_refunded": ch.amount_refunded_cents,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": {
            "address": None,
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "SIMULATOR",
        "captured": succeeded,
        "created": unix(ch.created_at),
        "currency": ch.currency,
        "customer": ch.customer_id,
        "description": None,
        "disputed": ch.disputed,
        "failure_balance_transaction": None,
        "failure_code": ch.failure_code if failed else None,
        "failure_message": "Your card was declined." if failed else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "paid": succeeded,
        "payment_intent": ch.payment_intent_id,
        "payment_method": ch.payment_method_id,
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": f"{base_url}/v1/simulator/receipts/{ch.id}",
        "refunded": ch.amount_refunded_cents >= ch.amount_cents > 0,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": ch.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def dispute(ch: SimCharge, *, dispute_id: str, reason: str, created: datetime) -> Json:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": ch.amount_cents,
        "balance_transactions": [],
        "charge": ch.id,
        "created": unix(created),
        "currency": ch.currency,
        "enhanced_eligibility_types": [],
        "evidence": {"enhanced_evidence": {}},
        "evidence_details": {
            "due_by": None,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": ch.payment_intent_id,
        "reason": reason,
        "status": "needs_response",
    }
