"""Growth analytics tables: churn models and scores, usage groups and trends, pricing
experiments, campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.core import Base, BigIntId
from db.types import JSONType, UTCDateTime


class ChurnModelRow(Base):
    """A trained churn model (or the rules, when history was too short), with its metrics."""

    __tablename__ = "churn_models"
    __table_args__ = (Index("ix_churn_models_trained_at", "trained_at"),)

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    # logistic_regression | rules
    method: Mapped[str] = mapped_column(String(32))
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime())
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")


class ChurnScore(Base):
    """A customer's latest churn risk (30 days) and its top reasons."""

    __tablename__ = "churn_scores"
    __table_args__ = (Index("ix_churn_scores_risk", "risk"),)

    customer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    # low | medium | high
    risk: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageGroupRow(Base):
    """A group of customers with the same usage shape, from the latest analytics run."""

    __tablename__ = "usage_groups"

    group_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(Text)
    customers: Mapped[int] = mapped_column(Integer)
    trend: Mapped[str] = mapped_column(String(16))
    rhythm: Mapped[str] = mapped_column(String(16))
    median_weekly_messages: Mapped[int] = mapped_column(BigInteger)
    # The grouping's silhouette score (how well separated; -1 to 1).
    silhouette: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomerUsageGroup(Base):
    __tablename__ = "customer_usage_groups"

    customer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(Integer)


class ExperimentStateRow(Base):
    """An experiment's state when an operator changed it (stop, rollout); absent, the
    config's ``status`` holds."""

    __tablename__ = "experiment_states"

    experiment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    winner: Mapped[str | None] = mapped_column(String(64))
    winner_terms_version: Mapped[str | None] = mapped_column(String(64))
    changed_by: Mapped[str | None] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExperimentAssignment(Base):
    """A sign-up's variant, drawn once (sticky across retries) and pinned: the customer's
    plan changes keep these terms until an admin migrates the customer."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (Index("ix_experiment_assignments_customer", "customer_id"),)

    experiment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    variant: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    terms_version: Mapped[str] = mapped_column(String(64))
    price_book: Mapped[str | None] = mapped_column(String(160))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    migrated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExperimentExposure(Base):
    """A subject saw a variant's terms (the plans page, the sign-up)."""

    __tablename__ = "experiment_exposures"
    __table_args__ = (
        Index("ix_experiment_exposures_experiment", "experiment_id", "variant", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(255))
    variant: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    exposed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomerUsageTrend(Base):
    """A customer's usage trend (growing / flat / declining / unknown) from the latest
    analytics run, for segments to select on."""

    __tablename__ = "customer_usage_trends"

    customer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    trend: Mapped[str] = mapped_column(String(16))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Campaign(Base):
    """An offer sent to a segment through each customer's workflow (offer id
    ``campaign:<id>``); the segment's rules are kept as they were when it was created."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(128))
    segment_name: Mapped[str] = mapped_column(String(255))
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType)
    coupon: Mapped[str] = mapped_column(String(64))
    headline: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A recipient who converts to paid within this many days of the offer counts.
    conversion_days: Mapped[int] = mapped_column(Integer)
    # draft -> sending (audience chosen, offers going out) -> sent
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The creating request's Idempotency-Key and a digest of its body.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_digest: Mapped[str | None] = mapped_column(String(64))
    # The latest dry run: when, and how many it would have reached.
    dry_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dry_run_audience: Mapped[int | None] = mapped_column(Integer)
    send_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set with the recipients, in one transaction: the audience is chosen once.
    audience_selected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    audience: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CampaignRecipient(Base):
    """One customer of a campaign's audience, written before its workflow is signalled:
    unique per campaign and customer, so a retried send never offers twice."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", name="uq_campaign_recipients"),
        Index("ix_campaign_recipients_state", "campaign_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("customers.id", ondelete="CASCADE")
    )
    # The facts the segment matched on when the audience was chosen.
    matched: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # pending -> signalled (its workflow heard the offer) | unreachable (workflow closed)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
