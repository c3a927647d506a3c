"""The read-model row a sign-up creates, before the customer's workflow takes over."""

from __future__ import annotations

from datetime import datetime

from db.models import Customer
from domain.lifecycle import Status
from domain.policy import TrialPolicy


def new_trial_customer(
    *,
    customer_id: str,
    external_id: str,
    email: str | None,
    name: str | None,
    trial: TrialPolicy,
    signed_up_at: datetime,
    locale: str | None = None,
) -> Customer:
    return Customer(
        id=customer_id,
        external_id=external_id,
        email=email,
        name=name,
        locale=locale,
        status=Status.TRIALING.value,
        plan=trial.plan,
        interval=None,
        trial_started_at=signed_up_at,
        trial_ends_at=signed_up_at + trial.length,
        cancel_at_period_end=False,
        state_version=0,
        created_at=signed_up_at,
        updated_at=signed_up_at,
    )
