"""State of the embedded payment simulator (``adapters/payments/simulator``).

Kept in the app database so the API and the worker, which each build a simulator, see the
same customers, cards, subscriptions and invoices. Tables are prefixed ``sim_`` and never
joined with the engine's own tables: the simulator plays the part of Stripe. Amounts are
integer cents; times are whole seconds in UTC, like Stripe's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.models import BigIntId
from db.types import JSONType, UTCDateTime


class SimBase(DeclarativeBase):
    """The simulator's own metadata: the engine's models never see its tables (Alembic's
    environment is given both; the tables are created by the main migration chain)."""


class SimCustomer(SimBase):
    __tablename__ = "sim_customers"
    __table_args__ = (
        UniqueConstraint("engine_customer_id", name="uq_sim_customers_engine_customer_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # metadata.customer_id: the engine's customer id.
    engine_customer_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    default_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    # Stripe's customer balance: negative is credit applied to the next invoices.
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # Invoice numbers SIM-0001, SIM-0002, ... per customer.
    invoice_sequence: Mapped[int] = mapped_column(Integer, default=0)
    # Stripe's ``currency``: set by the first subscription, fixed afterwards (none before).
    currency: Mapped[str | None] = mapped_column(String(8))
    # Its TaxIds: [{"id": "txi_...", "type": "eu_vat", "value": ..., "country": ...,
    # "created": <unix>}] (few, always read with the customer).
    tax_ids: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=list)
    # The customer's test clock: its "now" is the real clock plus this many seconds.
    clock_offset_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimPaymentMethod(SimBase):
    """An attached payment method, cloned from a test payment method and keeping its
    behaviour."""

    __tablename__ = "sim_payment_methods"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None once detached (the detach event names the customer it had).
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("sim_customers.id", name="fk_sim_payment_methods_customer_id"), index=True
    )
    # The test payment method it was made from (pm_card_visa, pm_card_chargeCustomerFail...).
    source: Mapped[str] = mapped_column(String(64))
    # card or sepa_debit.
    type: Mapped[str] = mapped_column(String(32), default="card")
    brand: Mapped[str] = mapped_column(String(32))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    # Set when every charge on this card fails: Stripe's error code and decline code.
    charge_error_code: Mapped[str | None] = mapped_column(String(64))
    charge_decline_code: Mapped[str | None] = mapped_column(String(64))
    # authentication_required (3-D Secure on every off-session charge) or delayed (the
    # payment stays processing until a test helper settles it).
    behavior: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimSubscription(SimBase):
    __tablename__ = "sim_subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("sim_customers.id", name="fk_sim_subscriptions_customer_id"), index=True
    )
    # incomplete, incomplete_expired, active, past_due, paused, canceled
    status: Mapped[str] = mapped_column(String(32))
    # The plan price (plan_<plan>_<interval>) and its subscription item.
    price_lookup_key: Mapped[str] = mapped_column(String(128))
    plan_item_id: Mapped[str] = mapped_column(String(64))
    # Further items (add-ons): [{"id": "si_...", "price": "<lookup key>", "quantity": 1}].
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    billing_cycle_anchor: Mapped[datetime] = mapped_column(UTCDateTime())
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    # A cancellation scheduled by time (the Customer Portal in flexible billing mode).
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # cancellation_details.reason: cancellation_requested, payment_failed, payment_disputed.
    cancellation_reason: Mapped[str | None] = mapped_column(String(32))
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # pause_collection: behavior ("void") while paused, and when it resumes by itself.
    pause_behavior: Mapped[str | None] = mapped_column(String(32))
    pause_resumes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The subscription schedule managing it (a price change at the next renewal).
    schedule_id: Mapped[str | None] = mapped_column(String(64))
    # Its own card (Checkout saves it here), which wins over the customer's default.
    default_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    # The coupon the subscription was created with (applied to its first invoice).
    coupon: Mapped[str | None] = mapped_column(String(64))
    # A coupon applied later (``discounts``), taken by the next renewal's invoice.
    next_invoice_coupon: Mapped[str | None] = mapped_column(String(64))
    latest_invoice_id: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    currency: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimInvoice(SimBase):
    __tablename__ = "sim_invoices"
    __table_args__ = (Index("ix_sim_invoices_customer_sequence", "customer_id", "sequence"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("sim_customers.id", name="fk_sim_invoices_customer_id")
    )
    subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    number: Mapped[str] = mapped_column(String(64))
    # The customer's invoice sequence number (orders invoices created in the same second).
    sequence: Mapped[int] = mapped_column(Integer)
    # draft, open, paid, uncollectible, void
    status: Mapped[str] = mapped_column(String(32))
    billing_reason: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(8))
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    starting_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    ending_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due_cents: Mapped[int] = mapped_column(BigInteger)
    amount_paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_remaining_cents: Mapped[int] = mapped_column(BigInteger)
    coupon: Mapped[str | None] = mapped_column(String(64))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    # Stripe-shaped line items (rendered as they are).
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    attempted: Mapped[bool] = mapped_column(Boolean, default=False)
    next_payment_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The subscription's metadata when the invoice was made (parent.subscription_details).
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    marked_uncollectible_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Tax (issue 15): the tax in total_cents, and what the invoice shows of it as frozen at
    # finalization (total_taxes, customer_tax_ids, the reverse charge, the parties' legal
    # details: ``adapters.payments.simulator.taxes``).
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class SimInvoiceNumber(SimBase):
    """The last number issued under each invoice prefix (account-level sequential
    numbering): its row is locked by each finalization until it commits, so numbers are
    issued in commit order without gaps."""

    __tablename__ = "sim_invoice_numbers"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class SimPaymentIntent(SimBase):
    """The PaymentIntent of an invoice: every payment attempt on the invoice goes through
    it, and it keeps the last attempt's error (where Stripe reports decline codes)."""

    __tablename__ = "sim_payment_intents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("sim_customers.id", name="fk_sim_payment_intents_customer_id"), index=True
    )
    invoice_id: Mapped[str] = mapped_column(String(64), index=True)
    # The invoice_payment joining the two (``invoice.payments``).
    invoice_payment_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_received_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(8))
    # requires_payment_method, requires_action, processing, succeeded, canceled
    status: Mapped[str] = mapped_column(String(32))
    payment_method_id: Mapped[str | None] = mapped_column(String(64))
    # {"type": "card_error", "code": ..., "decline_code": ..., "message": ...}
    last_payment_error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    latest_charge_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SimSubscriptionSchedule(SimBase):
    """A subscription schedule: the current phase and the one a scheduled change starts."""

    __tablename__ = "sim_subscription_schedules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("sim_customers.id", name="fk_sim_subscription_schedules_customer_id"),
        index=True,
    )
    subscription_id: Mapped[str] = mapped_column(String(64), index=True)
    # not_started, active, released, completed, canceled
    status: Mapped[str] = mapped_column(String(16))
    # [{"start": <unix>, "end": <unix>, "price": "<lookup key>"}], in order.
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SimCharge(SimBase):
    """Every attempt to take money from a card, successful or not."""

    __tablename__ = "sim_charges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("sim_customers.id", name="fk_sim_charges_customer_id"), index=True
    )
    # Not on Stripe's charge (it names the PaymentIntent): kept to find an invoice's charges.
    invoice_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payment_method_id: Mapped[str | None] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(8))
    # succeeded, pending, failed
    status: Mapped[str] = mapped_column(String(16))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimCheckoutSession(SimBase):
    """A hosted page the simulator serves: a Checkout session, or a portal session."""

    __tablename__ = "sim_checkout_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # subscription (Checkout) or portal (Customer Portal).
    mode: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("sim_customers.id", name="fk_sim_checkout_sessions_customer_id"), index=True
    )
    # client_reference_id: the engine's customer id.
    engine_customer_id: Mapped[str | None] = mapped_column(String(64))
    price_lookup_key: Mapped[str | None] = mapped_column(String(128))
    coupon: Mapped[str | None] = mapped_column(String(64))
    # The currency it charges in (the price's currency option); none: the price's own.
    currency: Mapped[str | None] = mapped_column(String(8))
    # The payment method types it offers (``domain.payment_methods``); none: card and
    # sepa_debit, what sessions offered before.
    payment_method_types: Mapped[list[str] | None] = mapped_column(JSONType)
    success_url: Mapped[str | None] = mapped_column(Text)
    cancel_url: Mapped[str | None] = mapped_column(Text)
    return_url: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    # open, complete, expired
    status: Mapped[str] = mapped_column(String(16))
    # paid, or unpaid while a delayed payment method (SEPA Direct Debit) is processing.
    payment_status: Mapped[str] = mapped_column(String(32), default="unpaid")
    subscription_id: Mapped[str | None] = mapped_column(String(64))
    invoice_id: Mapped[str | None] = mapped_column(String(64))
    # The ids of the events its completion produced (a repeated completion returns them).
    completion_event_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SimIdempotencyRecord(SimBase):
    """The stored outcome of a mutating call, written in the same transaction as its effects."""

    __tablename__ = "sim_idempotency_records"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    # sha256 of the operation and its parameters: a key reused for another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    # {"object": <Stripe-shaped JSON>} or {"error": {...}}; null only inside the transaction.
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimEvent(SimBase):
    """Every event the simulator emitted, Stripe-shaped, in order."""

    __tablename__ = "sim_events"
    __table_args__ = (UniqueConstraint("event_id", name="uq_sim_events_event_id"),)

    seq: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(128))
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
