"""Lifecycle states and which commands each state accepts."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    TRIALING = "trialing"
    TRIAL_EXPIRED = "trial_expired"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELED = "canceled"


class BillingInterval(StrEnum):
    MONTH = "month"
    YEAR = "year"


# Statuses in which the customer may no longer consume metered features.
BLOCKING_STATUSES = frozenset({Status.TRIAL_EXPIRED, Status.PAUSED, Status.CANCELED})


class TransitionRefused(Exception):
    """A command is not allowed from the customer's current state; the API answers 409."""

    def __init__(self, message: str, *, status: Status | None = None) -> None:
        super().__init__(message)
        self.status = status
