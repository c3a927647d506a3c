"""Usage through the API (events ingested, entitlement checks, usage read back, limits
overridden), a billing period around now, and a consume straight at the store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from db.engine import SessionFactory
from db.usage.consume import ConsumeOutcome, ConsumeSpec, check_and_consume
from db.usage.context import UsageContext
from db.usage.records import EventRow
from domain.limits import ceiling
from tests.factories.responses import Json, ok
from tests.factories.settings import ADMIN_KEY, auth


def month_around(now: datetime | None = None) -> tuple[datetime, datetime]:
    """A 30-day billing period that started 10 days ago."""
    start = (now or datetime.now(UTC)) - timedelta(days=10)
    return start, start + timedelta(days=30)


# -- through the API -----------------------------------------------------------------------


async def ingest(http: httpx.AsyncClient, events: Sequence[object]) -> Json:
    return ok(await http.post("/v1/usage", json={"events": events}, headers=auth()))


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
    body = ok(await http.get(f"/v1/customers/{customer_id}/usage", headers=auth()))
    return {m["metric"]: m for m in body["metrics"]}


async def override(http: httpx.AsyncClient, customer_id: str, **limits: int | None) -> Json:
    return ok(
        await http.put(
            f"/v1/admin/customers/{customer_id}/limits", json=limits, headers=auth(ADMIN_KEY)
        )
    )


# -- at the store --------------------------------------------------------------------------

LIMIT = 10


def spec_for(
    usage: UsageContext, key: str, quantity: int, now: datetime, limit: int | None = LIMIT
) -> ConsumeSpec:
    period = usage.period(now)
    return ConsumeSpec(
        event=EventRow(
            customer_id=usage.customer_id,
            metric="messages",
            quantity=quantity,
            idempotency_key=key,
            occurred_at=now,
            period_start=period.start,
            period_end=period.end,
        ),
        ceiling=None if limit is None else ceiling("messages", limit),
        blocked=False,
        limit=limit,
        notice_period_start=period.start,
    )


async def consume(
    sessions: SessionFactory, cid: str, key: str, quantity: int = 1
) -> ConsumeOutcome:
    now = datetime.now(UTC)
    return await check_and_consume(
        sessions, cid, lambda usage: spec_for(usage, key, quantity, now), now
    )
