"""Lifecycle policy: every duration the engine waits for. Snapshotted into each workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class TrialPolicy:
    length: timedelta
    plan: str
    # Offsets before the trial end at which a reminder goes out.
    reminders: tuple[timedelta, ...]
    # Offsets after expiry at which a win-back email goes out, until the customer converts.
    winback: tuple[timedelta, ...]


@dataclass(frozen=True)
class Policy:
    trial: TrialPolicy
