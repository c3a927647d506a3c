"""Lifecycle policy: every duration the engine waits for. Snapshotted into each workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


@dataclass(frozen=True)
class TrialPolicy:
    length: timedelta
    plan: str
    # Offsets before the trial end at which a reminder goes out.
    reminders: tuple[timedelta, ...]
    # Offsets after expiry at which a win-back email goes out, until the customer converts.
    winback: tuple[timedelta, ...]
    # An offer win-back emails carry: a provider coupon applied when the customer converts.
    winback_coupon: str | None = None
    winback_offer: str | None = None


class FinalAction(StrEnum):
    CANCEL = "cancel"
    DOWNGRADE = "downgrade"


class DunningAccess(StrEnum):
    FULL = "full"
    READ_ONLY = "read_only"


@dataclass(frozen=True)
class DunningPolicy:
    # Offsets after the first failed payment at which the engine retries it.
    retries: tuple[timedelta, ...] = (
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=5),
        timedelta(days=7),
    )
    final_action: FinalAction = FinalAction.CANCEL
    # The plan a customer moves to when the final action is a downgrade.
    downgrade_plan: str | None = None
    # What a customer in dunning may still do.
    access: DunningAccess = DunningAccess.FULL


# The security log is never purged younger than this: an incident is often found weeks late.
# The database holds the same floor (migration 0024), whoever asks.
MIN_SECURITY_EVENTS_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class RetentionPolicy:
    # Raw usage events (aggregates stay) and email bodies (the send record stays).
    usage_events: timedelta = timedelta(days=90)
    email_bodies: timedelta = timedelta(days=30)
    # The security log (failed authentications with addresses, sign-ins): kept for the
    # investigation of an incident, then deleted (addresses are personal data).
    security_events: timedelta = timedelta(days=180)
    # How often the purge runs (a Temporal Schedule).
    every: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    trial: TrialPolicy
    dunning: DunningPolicy = DunningPolicy()
    retention: RetentionPolicy = RetentionPolicy()
