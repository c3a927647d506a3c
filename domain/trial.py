"""The trial's timetable: reminders before the end, expiry, win-backs after it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.policy import TrialPolicy

_DAY = timedelta(days=1)
_ZERO = timedelta(0)


class TrialStep(StrEnum):
    REMINDER = "trial_reminder"
    EXPIRE = "trial_expired"
    WINBACK = "trial_winback"


@dataclass(frozen=True)
class TrialAction:
    # Stable across retries and replays; doubles as the email's idempotency key suffix.
    key: str
    at: datetime
    step: TrialStep
    offset: timedelta

    @property
    def whole_days(self) -> int:
        """The offset in days as a customer reads it (a 36h reminder says 2 days)."""
        return max(1, math.ceil(self.offset / _DAY))


def trial_timetable(
    *, trial_ends_at: datetime, planned_from: datetime, policy: TrialPolicy
) -> list[TrialAction]:
    """Every trial action in time order.

    Reminders that would fall before ``planned_from`` (sign-up, or the moment an admin
    extended the trial) are left out rather than sent late: a 7-day reminder makes no
    sense for a 5-day trial. Keys carry the trial end, so extending a trial plans the
    remaining reminders afresh from the new end.
    """
    end = trial_ends_at.isoformat()
    actions: list[TrialAction] = []
    for offset in sorted(set(policy.reminders), reverse=True):
        at = trial_ends_at - offset
        if at >= planned_from:
            key = f"{TrialStep.REMINDER}:{int(offset.total_seconds())}:{end}"
            actions.append(TrialAction(key, at, TrialStep.REMINDER, offset))
    actions.append(TrialAction(f"{TrialStep.EXPIRE}:{end}", trial_ends_at, TrialStep.EXPIRE, _ZERO))
    for offset in sorted(set(policy.winback)):
        key = f"{TrialStep.WINBACK}:{int(offset.total_seconds())}:{end}"
        actions.append(TrialAction(key, trial_ends_at + offset, TrialStep.WINBACK, offset))
    return actions
