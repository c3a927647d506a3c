"""Tables of the app database. The read model mirrors workflow state; the ledger is append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import JSONType, UTCDateTime


class Base(DeclarativeBase):
    pass


# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Customer(Base):
    """Read model of one customer: profile (from the API), lifecycle state (from its workflow)."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), index=True)
    plan: Mapped[str] = mapped_column(String(64), index=True)
    interval: Mapped[str | None] = mapped_column(String(16))
    trial_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    scheduled_change: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Monthly recurring revenue of the current subscription, in cents (annual / 12).
    mrr_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pause_resumes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The payment provider's ids (Stripe or the simulator).
    provider_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=False)
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # A display summary of the default payment method; never a card number.
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    payment_method_brand: Mapped[str | None] = mapped_column(String(32))
    payment_method_last4: Mapped[str | None] = mapped_column(String(4))
    payment_method_exp_month: Mapped[int | None] = mapped_column(Integer)
    payment_method_exp_year: Mapped[int | None] = mapped_column(Integer)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The workflow's state version last written here; older writes are ignored.
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EmailOutbox(Base):
    """Every lifecycle email, one row per idempotency key, whether a provider sent it or not."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    template: Mapped[str] = mapped_column(String(64))
    to_email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # pending -> sent, or failed when the provider refused it for good.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider: Mapped[str] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the lifecycle asked for the email (workflow time), and when a provider accepted it.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LedgerEvent(Base):
    """Append-only record of every lifecycle transition: who, what, when, from, to, MRR delta."""

    __tablename__ = "ledger_events"
    __table_args__ = (Index("ix_ledger_customer_occurred", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    plan: Mapped[str | None] = mapped_column(String(64))
    interval: Mapped[str | None] = mapped_column(String(16))
    mrr_delta_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Invoice(Base):
    """The engine's mirror of the provider's invoices (from activities and webhooks)."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_customer_created", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8))
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    amount_due_cents: Mapped[int] = mapped_column(BigInteger)
    amount_paid_cents: Mapped[int] = mapped_column(BigInteger)
    amount_remaining_cents: Mapped[int] = mapped_column(BigInteger)
    billing_reason: Mapped[str | None] = mapped_column(String(64))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    invoice_pdf: Mapped[str | None] = mapped_column(Text)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_payment_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """The webhook inbox: each provider event id once, and what became of it."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    # When the provider created the event; orders out-of-order deliveries.
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # received -> delivered (signalled to the workflow) | ignored (no customer, unknown type)
    status: Mapped[str] = mapped_column(String(16), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Notification(Base):
    """An in-app notification, one per dedupe key (the workflow's stable event key)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    cta_label: Mapped[str | None] = mapped_column(String(64))
    cta_url: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
