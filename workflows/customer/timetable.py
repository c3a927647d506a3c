"""What the customer workflow will do next, and when: pure functions of the state.

Every timed action has a key, stable across retries and replays, that goes to
``state.done`` once carried out; a stalled action (see ``Stall``) waits for its next
attempt. The order of ``candidates`` breaks ties between actions due at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.lifecycle import Status
    from domain.policy import Policy
    from domain.trial import TrialAction, TrialStep, trial_timetable
    from workflows.messages import CustomerState

# A provider event that could not be applied is replaced by reading the provider's
# current state under this key, once the provider answers again.
RESYNC_KEY = "resync"


class DueKind(StrEnum):
    TRIAL = "trial"
    PERIOD_END = "period_end"
    DUNNING_RETRY = "dunning_retry"
    DUNNING_FINAL = "dunning_final"
    AUTO_RESUME = "auto_resume"
    RESYNC = "resync"


@dataclass(frozen=True)
class Due:
    key: str
    at: datetime
    kind: DueKind
    trial: TrialAction | None = None


def candidates(state: CustomerState, policy: Policy) -> list[Due]:
    """Every timed action the state calls for, carried out or not."""
    due: list[Due] = []
    if state.status in (Status.TRIALING, Status.TRIAL_EXPIRED):
        assert state.trial_ends_at is not None and state.trial_planned_from is not None
        wanted = (
            {TrialStep.REMINDER, TrialStep.EXPIRE}
            if state.status is Status.TRIALING
            else {TrialStep.WINBACK}
        )
        for action in trial_timetable(
            trial_ends_at=state.trial_ends_at,
            planned_from=state.trial_planned_from,
            policy=policy.trial,
        ):
            if action.step in wanted:
                due.append(Due(action.key, action.at, DueKind.TRIAL, trial=action))
    if (
        state.status in (Status.ACTIVE, Status.PAST_DUE)
        and state.current_period_end is not None
        and (state.cancel_at_period_end or state.scheduled_change is not None)
    ):
        end = state.current_period_end
        due.append(Due(period_end_key(end), end, DueKind.PERIOD_END))
    if state.status is Status.PAST_DUE and state.dunning is not None:
        dunning = state.dunning
        if dunning.next_retry_at is not None:
            when = dunning.next_retry_at.isoformat()
            key = f"dunning_retry:{dunning.invoice_id}:{dunning.attempts + 1}:{when}"
            due.append(Due(key, dunning.next_retry_at, DueKind.DUNNING_RETRY))
        elif dunning.final_action_at is not None:
            key = f"dunning_final:{dunning.invoice_id}"
            due.append(Due(key, dunning.final_action_at, DueKind.DUNNING_FINAL))
    if state.status is Status.PAUSED and state.pause_resumes_at is not None:
        at = state.pause_resumes_at
        due.append(Due(f"auto_resume:{at.isoformat()}", at, DueKind.AUTO_RESUME))
    resync = state.stalled.get(RESYNC_KEY)
    if resync is not None:
        due.append(Due(RESYNC_KEY, resync.next_attempt_at, DueKind.RESYNC))
    return due


def pending(state: CustomerState, policy: Policy) -> list[Due]:
    """The actions still to carry out; a stalled one at its next attempt."""
    done = set(state.done)
    actions: list[Due] = []
    for action in candidates(state, policy):
        if action.key in done:
            continue
        stall = state.stalled.get(action.key)
        if stall is not None and stall.next_attempt_at > action.at:
            action = Due(action.key, stall.next_attempt_at, action.kind, action.trial)
        actions.append(action)
    return actions


def next_due(state: CustomerState, policy: Policy) -> Due | None:
    actions = pending(state, policy)
    return min(actions, key=lambda a: a.at) if actions else None


def prune(state: CustomerState, policy: Policy) -> None:
    """Forget what the timetable can no longer produce: keys of past phases and periods,
    and stalls of steps that are gone (a dunning that ended another way)."""
    keys = {action.key for action in candidates(state, policy)}
    state.done = [key for key in state.done if key in keys]
    state.stalled = {key: s for key, s in state.stalled.items() if key in keys}


def needs_attention(state: CustomerState, policy: Policy) -> bool:
    """A step the timetable still wants keeps failing: what admins filter on."""
    stalled = set(state.stalled)
    return any(action.key in stalled for action in candidates(state, policy))


def period_end_key(end: datetime) -> str:
    return f"period_end:{end.isoformat()}"


# -- retrying stalled steps ------------------------------------------------------------------

_FIRST_BACKOFF = timedelta(minutes=1)
_MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1`` of a stalled step: 1, 2, 4 ... 60 minutes."""
    return min(_FIRST_BACKOFF * 2 ** max(attempts - 1, 0), _MAX_BACKOFF)


def next_retry_after(
    started_at: datetime, retries: tuple[timedelta, ...], retries_done: int, now: datetime
) -> tuple[int, datetime | None]:
    """The next dunning retry on the policy's schedule, skipping the ones already missed.

    Returns how many scheduled retries are now used up and when the next one is, or None
    when none is left. After a stall, several scheduled retries may lie in the past: they
    collapse into the attempt just made rather than running back to back."""
    index = retries_done
    while index < len(retries) and started_at + retries[index] <= now:
        index += 1
    if index < len(retries):
        return index, started_at + retries[index]
    return index, None
