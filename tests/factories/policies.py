"""Policies: the configured one with some durations or dunning rules replaced."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from core.config import EngineConfig
from domain.durations import parse_duration
from domain.policy import DunningAccess, FinalAction, Policy


def make_policy(
    base: EngineConfig,
    *,
    length: str | None = None,
    reminders: list[str] | None = None,
    winback: list[str] | None = None,
    retries: list[str] | None = None,
    final_action: str | None = None,
    downgrade_plan: str | None = None,
    access: str | None = None,
) -> Policy:
    trial, dunning = base.policy.trial, base.policy.dunning
    return replace(
        base.policy,
        trial=replace(
            trial,
            length=parse_duration(length) if length else trial.length,
            reminders=tuple(parse_duration(r) for r in reminders)
            if reminders is not None
            else trial.reminders,
            winback=tuple(parse_duration(w) for w in winback)
            if winback is not None
            else trial.winback,
        ),
        dunning=replace(
            dunning,
            retries=tuple(parse_duration(r) for r in retries)
            if retries is not None
            else dunning.retries,
            final_action=FinalAction(final_action) if final_action else dunning.final_action,
            downgrade_plan=downgrade_plan or dunning.downgrade_plan,
            access=DunningAccess(access) if access else dunning.access,
        ),
    )


def days(n: float) -> timedelta:
    return timedelta(days=n)
