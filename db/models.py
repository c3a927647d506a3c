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
