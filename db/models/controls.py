"""Financial controls (issue 16): approval requests (maker-checker), config versions (change
management), reconciliation runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.core import Base, BigIntId
from db.types import JSONType, UTCDateTime


class ReconciliationRun(Base):
    """One comparison of the engine's invoices and subscriptions with the provider's, and
    every difference it found (``domain.reconciliation.Difference`` as JSON)."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # Stable per scheduled run (its start time), so a retried activity records it once.
    run_key: Mapped[str] = mapped_column(String(128), unique=True)
    # schedule, api, cli
    trigger: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    invoices_compared: Mapped[int] = mapped_column(Integer)
    subscriptions_compared: Mapped[int] = mapped_column(Integer)
    difference_count: Mapped[int] = mapped_column(Integer)
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApprovalRequest(Base):
    """A sensitive admin action waiting for (or decided by) a second admin key. The
    parameters are those of the direct call; approving runs it once through the same use
    case. Every step is also in the ledger (``approval_*`` rows)."""

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # domain.approvals.Action
    action: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(Text)
    # The requesting key's actor (``admin:<key id>``) and key id: the approver's must differ.
    requested_by: Mapped[str] = mapped_column(String(128))
    requester_key_id: Mapped[str] = mapped_column(String(64))
    # domain.approvals.ApprovalStatus
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    # What the action answered when it ran, or why it failed.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConfigVersion(Base):
    """A catalog and policy config the API or a worker loaded, once per content (its
    canonical hash), with who deployed it when known and the diff from the version that ran
    before it."""

    __tablename__ = "config_versions"
    __table_args__ = (Index("ix_config_versions_last_loaded_at", "last_loaded_at"),)

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The canonical content (core.config_versions): the TOML's meaning as sorted JSON.
    content: Mapped[str] = mapped_column(Text)
    deployed_by: Mapped[str | None] = mapped_column(String(255))
    # The version that ran before this one was first loaded, and the unified diff from it.
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    diff: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Each process start that loads it again moves this (a rollback to an older version).
    last_loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
