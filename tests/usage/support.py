"""Helpers of the usage tests: customers in a given state, add-ons, API calls."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer, CustomerAddon
from tests.factories import ADMIN_KEY, auth, insert_customer

Json = dict[str, Any]


NewCustomer = Callable[..., Awaitable[str]]


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


def month_around(now: datetime | None = None) -> tuple[datetime, datetime]:
    """A 30-day billing period that started 10 days ago."""
    start = (now or datetime.now(UTC)) - timedelta(days=10)
    return start, start + timedelta(days=30)


async def ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    return body


async def ingest(http: httpx.AsyncClient, events: Sequence[object]) -> Json:
    return await ok(await http.post("/v1/usage", json={"events": events}, headers=auth()))


def event(customer_id: str, metric: str = "messages", quantity: int = 1, **extra: Any) -> Json:
    return {
        "customer_id": customer_id,
        "metric": metric,
        "quantity": quantity,
        "idempotency_key": extra.pop("key", None) or f"k-{uuid.uuid4()}",
        **extra,
    }


async def check(http: httpx.AsyncClient, customer_id: str, **body: Any) -> httpx.Response:
    return await http.post(
        f"/v1/customers/{customer_id}/entitlements/check", json=body, headers=auth()
    )


async def usage(http: httpx.AsyncClient, customer_id: str) -> dict[str, Json]:
    body = await ok(await http.get(f"/v1/customers/{customer_id}/usage", headers=auth()))
    return {m["metric"]: m for m in body["metrics"]}


async def override(http: httpx.AsyncClient, customer_id: str, **limits: int | None) -> Json:
    return await ok(
        await http.put(
            f"/v1/admin/customers/{customer_id}/limits", json=limits, headers=auth(ADMIN_KEY)
        )
    )
