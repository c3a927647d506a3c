"""Inputs, state and query results of the customer workflow. No PII: ids, plans, times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.lifecycle import BillingInterval, Status
from domain.policy import Policy


def workflow_id_for(customer_id: str) -> str:
    return f"customer-{customer_id}"


@dataclass
class CustomerState:
    """Everything the workflow knows; carried across continue-as-new."""

    customer_id: str
    status: Status
    plan: str
    signed_up_at: datetime
    interval: BillingInterval | None = None
    trial_started_at: datetime | None = None
    trial_ends_at: datetime | None = None
    # Trial reminders due before this moment (sign-up or the last extension) are skipped.
    trial_planned_from: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    # Keys of timetable actions already carried out (emails sent, expiry applied).
    done: list[str] = field(default_factory=list)
    # Bumped at every change mirrored to the read model, which ignores older writes.
    version: int = 0
    # Numbers ledger rows so their keys stay stable across retries and replays.
    ledger_seq: int = 0


@dataclass(frozen=True)
class CustomerWorkflowInput:
    customer_id: str
    signed_up_at: datetime
    policy: Policy
    # Present when the workflow continues as new.
    state: CustomerState | None = None


@dataclass(frozen=True)
class NextAction:
    key: str
    at: datetime


@dataclass(frozen=True)
class CustomerSnapshot:
    """What the ``state`` query answers: the lifecycle plus what the workflow will do next."""

    state: CustomerState
    next_action: NextAction | None
    policy: Policy
