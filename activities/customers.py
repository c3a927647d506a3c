"""Mirror workflow state into the read model and append the matching ledger row, atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from temporalio import activity

from core.clock import utcnow
from db.engine import SessionFactory
from db.ledger import append_ledger
from db.models import Customer, CustomerAddon
from db.writes import rows_affected


@dataclass(frozen=True)
class CustomerViewUpdate:
    status: str
    plan: str
    interval: str | None
    trial_started_at: datetime | None
    trial_ends_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    scheduled_change: dict[str, Any] | None
    mrr_cents: int = 0
    pause_resumes_at: datetime | None = None
    # Recurring and feature add-ons the subscription holds; rows for others are deactivated.
    held_addons: list[str] = field(default_factory=list)
    # Absent in writes from runs that predate them: those leave the columns as they are.
    terms_version: str | None = None
    needs_attention: bool | None = None


@dataclass(frozen=True)
class LedgerEntry:
    # Derived from the customer and the workflow's ledger sequence: stable across retries.
    event_key: str
    kind: str
    actor: str
    occurred_at: datetime
    from_status: str | None = None
    to_status: str | None = None
    plan: str | None = None
    interval: str | None = None
    mrr_delta_cents: int = 0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplyTransitionInput:
    customer_id: str
    # The workflow's state version; the read model ignores anything older than it holds.
    version: int
    view: CustomerViewUpdate
    entry: LedgerEntry | None = None


class CustomerActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        clock: Callable[[], datetime] = utcnow,
        config_version: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        # The config this worker loaded (change management): the rows it syncs say so.
        self._config_version = config_version

    @activity.defn(name="apply_transition")
    async def apply_transition(self, request: ApplyTransitionInput) -> None:
        async with self._sessions.begin() as session:
            view = request.view
            optional: dict[str, Any] = {}
            if view.terms_version is not None:
                optional["terms_version"] = view.terms_version
            if view.needs_attention is not None:
                optional["needs_attention"] = view.needs_attention
            if self._config_version is not None:
                optional["config_version"] = self._config_version
            result = await session.execute(
                update(Customer)
                .where(
                    Customer.id == request.customer_id,
                    Customer.state_version < request.version,
                )
                .values(
                    **optional,
                    status=view.status,
                    plan=view.plan,
                    interval=view.interval,
                    trial_started_at=view.trial_started_at,
                    trial_ends_at=view.trial_ends_at,
                    current_period_start=view.current_period_start,
                    current_period_end=view.current_period_end,
                    cancel_at_period_end=view.cancel_at_period_end,
                    scheduled_change=view.scheduled_change,
                    mrr_cents=view.mrr_cents,
                    pause_resumes_at=view.pause_resumes_at,
                    state_version=request.version,
                    updated_at=self._clock(),
                )
            )
            if rows_affected(result):
                # Add-ons end with the subscription that carried them.
                await session.execute(
                    update(CustomerAddon)
                    .where(
                        CustomerAddon.customer_id == request.customer_id,
                        CustomerAddon.kind != "one_off",
                        CustomerAddon.active.is_(True),
                        CustomerAddon.addon.not_in(view.held_addons),
                    )
                    .values(active=False)
                )
            entry = request.entry
            if entry is not None:
                await append_ledger(
                    session,
                    {
                        "event_key": entry.event_key,
                        "customer_id": request.customer_id,
                        "kind": entry.kind,
                        "actor": entry.actor,
                        "from_status": entry.from_status,
                        "to_status": entry.to_status,
                        "plan": entry.plan,
                        "interval": entry.interval,
                        "mrr_delta_cents": entry.mrr_delta_cents,
                        "data": entry.data,
                        "occurred_at": entry.occurred_at,
                        "recorded_at": self._clock(),
                    },
                )
