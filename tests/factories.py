"""Factory functions for test data: policies, customers, read-model rows."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from db.engine import SessionFactory
from db.models import Customer
from domain.durations import parse_duration
from domain.policy import Policy, TrialPolicy
from lifecycle.config import EngineConfig


def make_policy(
    base: EngineConfig,
    *,
    length: str | None = None,
    reminders: list[str] | None = None,
    winback: list[str] | None = None,
) -> Policy:
    trial = base.policy.trial
    return replace(
        base.policy,
        trial=TrialPolicy(
            length=parse_duration(length) if length else trial.length,
            plan=trial.plan,
            reminders=tuple(parse_duration(r) for r in reminders)
            if reminders is not None
            else trial.reminders,
            winback=tuple(parse_duration(w) for w in winback)
            if winback is not None
            else trial.winback,
        ),
    )


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def insert_customer(
    sessions: SessionFactory,
    *,
    policy: Policy,
    signed_up_at: datetime | None = None,
    email: str | None = None,
    name: str | None = "Ada Lovelace",
) -> Customer:
    """A read-model row as the API writes it at sign-up, before the workflow starts."""
    now = signed_up_at or datetime.now(UTC)
    customer = Customer(
        id=str(uuid.uuid4()),
        external_id=f"ext-{uuid.uuid4().hex}",
        email=email or unique_email(),
        name=name,
        status="trialing",
        plan=policy.trial.plan,
        interval=None,
        trial_started_at=now,
        trial_ends_at=now + policy.trial.length,
        cancel_at_period_end=False,
        state_version=0,
        created_at=now,
        updated_at=now,
    )
    async with sessions.begin() as session:
        session.add(customer)
    return customer


def days(n: float) -> timedelta:
    return timedelta(days=n)
