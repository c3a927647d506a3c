"""The engine's core tables: the read model mirrors workflow state; the ledger is append-only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
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
    # The language and region lifecycle emails use (``de``, ``pt-BR``); none means English.
    locale: Mapped[str | None] = mapped_column(String(35))
    # The currency it pays in (lower-case ISO 4217), chosen at sign-up and fixed by its first
    # subscription (Stripe's rule); none: the catalog's own. Its billing country (ISO 3166-1).
    currency: Mapped[str | None] = mapped_column(String(3))
    country: Mapped[str | None] = mapped_column(String(2))
    # The region whose prices it pays (``domain.regions``): its country's, or an admin's
    # ``region_override`` ("none": list prices). Kept here for the billing activities.
    region: Mapped[str | None] = mapped_column(String(64))
    region_override: Mapped[str | None] = mapped_column(String(64))
    # The workflow's state version last written here; older writes are ignored.
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    # Changes with anything a usage context reads (triggers, migration 0011): contexts
    # kept in memory are checked against it by the statement that uses them.
    usage_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The terms (policy and catalog version) the customer's lifecycle runs on.
    terms_version: Mapped[str | None] = mapped_column(String(64))
    # The config version (config_versions.hash) of the worker that last synced this row.
    config_version: Mapped[str | None] = mapped_column(String(64))
    # A timed step or provider event keeps failing (not the card): an admin should look.
    needs_attention: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="false", index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TermsVersion(Base):
    """A policy and catalog document, stored once per version (its digest), never changed."""

    __tablename__ = "terms_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EmailOutbox(Base):
    """Every lifecycle email, one row per idempotency key, whether a provider sent it or not."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    template: Mapped[str] = mapped_column(String(64))
    to_email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # pending -> sending (an attempt under way: recorded before the provider is called) ->
    # accepted (the provider took it) -> sent (in the ledger); or failed when the provider
    # refused it for good, or skipped with no address.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider: Mapped[str] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the lifecycle asked for the email (workflow time), and when a provider accepted it.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The attempt under way, and when the next may start after a provider error.
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # SendGrid's scheduled send of the attempt: cancellable until shortly before ``send_at``.
    batch_id: Mapped[str | None] = mapped_column(String(255))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LedgerEvent(Base):
    """Append-only, hash-chained record of every billing event: transitions, charges,
    refunds, emails, admin actions, webhooks received (who, what, when, from, to, MRR delta).
    Written only through ``db.ledger.append_ledger``."""

    __tablename__ = "ledger_events"
    __table_args__ = (Index("ix_ledger_customer_occurred", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(255), unique=True)
    # A pseudonymous id (a UUID); None for events no customer could be matched to.
    customer_id: Mapped[str | None] = mapped_column(String(36))
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
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ApiKey(Base):
    """API keys created with `lifecycle keys create`: only a hash of the key is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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
    # The tax in total_cents (issue 15, migration 0023) and its legal detail: per-rate
    # breakdown, the buyer's tax ids, the reverse-charge flag (``db.invoices``).
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    tax_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """The webhook inbox: each provider event id once, and what became of it."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        # The metrics' backlog count (db.monitoring) reads only what waits for delivery.
        Index(
            "ix_webhook_events_undelivered",
            "received_at",
            postgresql_where=text("status = 'received'"),
            sqlite_where=text("status = 'received'"),
        ),
    )

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


class UsageEvent(Base):
    """One recorded usage event; the key makes a repeated event count once."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key", name="uq_usage_events_customer_key"),
        Index("ix_usage_events_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    metric: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The billing period the event was counted in.
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageCounter(Base):
    """Usage per customer, metric and billing period (gauges use one fixed period)."""

    __tablename__ = "usage_counters"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set the first time usage reached the grace band in this period (for upgrade prompts).
    grace_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageDaily(Base):
    """Daily totals for charts; kept when raw events are purged."""

    __tablename__ = "usage_daily"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageThresholdCrossing(Base):
    """One row per customer, metric, period and threshold crossed: notifications go once."""

    __tablename__ = "usage_threshold_crossings"
    # The relay's outbox scan: only the few rows still to signal.
    __table_args__ = (
        Index(
            "ix_usage_crossings_unsignalled",
            "crossed_at",
            postgresql_where=text("signalled_at IS NULL"),
            sqlite_where=text("signalled_at IS NULL"),
        ),
    )

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    # 80 or 100 (percent of the limit)
    threshold: Mapped[int] = mapped_column(Integer, primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger)
    limit: Mapped[int] = mapped_column(BigInteger)
    crossed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LimitOverride(Base):
    """Admin overrides of a customer's limits (Enterprise contracts)."""

    __tablename__ = "limit_overrides"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    # None: unlimited.
    value: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomerAddon(Base):
    """Add-ons a customer holds (read model, written by the workflow's activities).

    Recurring and feature add-ons hold a quantity until changed; a one-off pack belongs to
    the billing period it was bought in (``period_start``)."""

    __tablename__ = "customer_addons"
    __table_args__ = (Index("ix_customer_addons_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # The purchase's stable key (customer + workflow command), so a retry adds nothing.
    purchase_key: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    addon: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_item_id: Mapped[str | None] = mapped_column(String(255))
    invoice_id: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
