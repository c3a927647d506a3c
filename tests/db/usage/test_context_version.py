"""``customers.usage_version`` (migration 0011) moves with everything a usage context is
read from, and with nothing else, whatever path writes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from db.engine import SessionFactory
from db.models import Customer, CustomerAddon, LimitOverride
from tests.factories.customers import NewCustomer, add_addon, set_customer

Change = Callable[[SessionFactory, str], Awaitable[None]]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def version_of(sessions: SessionFactory, cid: str) -> int:
    async with sessions() as session:
        version = await session.scalar(select(Customer.usage_version).where(Customer.id == cid))
    assert version is not None
    return version


async def set_override(sessions: SessionFactory, cid: str) -> None:
    async with sessions.begin() as session:
        session.add(
            LimitOverride(customer_id=cid, metric="tokens", value=7, actor="t", updated_at=NOW)
        )


async def change_override(sessions: SessionFactory, cid: str) -> None:
    await set_override(sessions, cid)
    async with sessions.begin() as session:
        await session.execute(
            update(LimitOverride).where(LimitOverride.customer_id == cid).values(value=8)
        )


async def drop_override(sessions: SessionFactory, cid: str) -> None:
    await set_override(sessions, cid)
    async with sessions.begin() as session:
        await session.execute(delete(LimitOverride).where(LimitOverride.customer_id == cid))


async def buy_addon(sessions: SessionFactory, cid: str) -> None:
    await add_addon(sessions, cid, "message_pack", kind="one_off", period_start=NOW)


async def end_addon(sessions: SessionFactory, cid: str) -> None:
    await buy_addon(sessions, cid)
    async with sessions.begin() as session:
        await session.execute(
            update(CustomerAddon).where(CustomerAddon.customer_id == cid).values(active=False)
        )


async def upgrade(sessions: SessionFactory, cid: str) -> None:
    await set_customer(sessions, cid, plan="pro")


async def renew(sessions: SessionFactory, cid: str) -> None:
    await set_customer(sessions, cid, current_period_end=NOW + timedelta(days=60))


async def convert(sessions: SessionFactory, cid: str) -> None:
    await set_customer(sessions, cid, status="active")


@pytest.mark.parametrize(
    "change",
    [set_override, change_override, drop_override, buy_addon, end_addon, upgrade, renew, convert],
)
async def test_what_a_context_reads_moves_the_version(
    sessions: SessionFactory, new_customer: NewCustomer, change: Change
) -> None:
    cid = await new_customer()
    before = await version_of(sessions, cid)
    await change(sessions, cid)
    assert await version_of(sessions, cid) > before


async def test_other_writes_leave_the_version_alone(
    sessions: SessionFactory, new_customer: NewCustomer
) -> None:
    """The workflow writes the read model often (MRR, the card, ``updated_at``); none of
    that may throw the API's kept contexts away."""
    cid = await new_customer()
    before = await version_of(sessions, cid)
    await set_customer(
        sessions, cid, mrr_cents=4900, payment_method_last4="4242", updated_at=NOW, plan="starter"
    )
    assert await version_of(sessions, cid) == before
