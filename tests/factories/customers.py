"""Customers inserted directly (no workflow): the read-model row as the API writes it at
sign-up, a customer in a given state, add-ons held, and the terms customers run on."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from core.config import EngineConfig
from db.customers import new_trial_customer
from db.engine import SessionFactory
from db.models import Customer, CustomerAddon
from db.terms import register_terms
from domain.policy import Policy
from domain.terms import Terms as TermsDocument

# The ``new_customer`` fixture: ``make_customer``'s keywords in, the customer id out.
NewCustomer = Callable[..., Awaitable[str]]


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def insert_customer(
    sessions: SessionFactory,
    *,
    policy: Policy,
    signed_up_at: datetime | None = None,
    email: str | None = None,
    name: str | None = "Ada Lovelace",
    locale: str | None = None,
) -> Customer:
    """A read-model row as the API writes it at sign-up, before the workflow starts."""
    customer = new_trial_customer(
        customer_id=str(uuid.uuid4()),
        external_id=f"ext-{uuid.uuid4().hex}",
        email=email or unique_email(),
        name=name,
        locale=locale,
        trial=policy.trial,
        signed_up_at=signed_up_at or datetime.now(UTC),
    )
    async with sessions.begin() as session:
        session.add(customer)
    return customer


async def store_terms(
    sessions: SessionFactory, config: EngineConfig, policy: Policy | None = None
) -> str:
    """Store the terms a test's customers run on; returns their version."""
    async with sessions.begin() as session:
        return await register_terms(
            session, TermsDocument(policy=policy or config.policy, catalog=config.catalog)
        )


async def make_customer(
    sessions: SessionFactory,
    config: EngineConfig,
    *,
    status: str = "trialing",
    plan: str = "starter",
    interval: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> str:
    customer = await insert_customer(sessions, policy=config.policy)
    if status != "trialing" or plan != "starter" or period_start is not None:
        await set_customer(
            sessions,
            customer.id,
            status=status,
            plan=plan,
            interval=interval,
            current_period_start=period_start,
            current_period_end=period_end,
        )
    return customer.id


async def set_customer(sessions: SessionFactory, customer_id: str, **values: Any) -> None:
    """Write the read model directly (what the workflow would do)."""
    async with sessions.begin() as session:
        await session.execute(update(Customer).where(Customer.id == customer_id).values(**values))


async def add_addon(
    sessions: SessionFactory,
    customer_id: str,
    addon: str,
    *,
    kind: str,
    quantity: int = 1,
    active: bool = True,
    period_start: datetime | None = None,
) -> None:
    async with sessions.begin() as session:
        session.add(
            CustomerAddon(
                purchase_key=f"test:{uuid.uuid4()}",
                customer_id=customer_id,
                addon=addon,
                kind=kind,
                quantity=quantity,
                period_start=period_start,
                period_end=None,
                active=active,
                created_at=datetime.now(UTC),
            )
        )
