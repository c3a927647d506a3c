"""Billing through the API in tests: a customer's read-model row, its invoices, a renewal
on the test clock."""

from __future__ import annotations

import httpx

from db.engine import SessionFactory
from db.models import Customer
from tests.factories.polling import eventually
from tests.factories.responses import Json, ok
from tests.factories.settings import ADMIN_KEY, auth

WAIT = 30.0


async def customer_row(sessions: SessionFactory, customer_id: str) -> Customer:
    async with sessions() as session:
        row = await session.get(Customer, customer_id)
    assert row is not None
    return row


async def invoices_of(http: httpx.AsyncClient, customer_id: str) -> list[Json]:
    body = ok(await http.get(f"/v1/customers/{customer_id}/invoices", headers=auth()))
    data: list[Json] = body["data"]
    return data


async def renew(http: httpx.AsyncClient, customer_id: str, *, invoices: int) -> list[Json]:
    """Move the test clock to the period's end (the provider renews and the invoice is
    paid), then the customer's invoices, newest first, once there are ``invoices``."""
    renewed = ok(
        await http.post(
            "/v1/admin/test-clock/advance",
            json={"customer_id": customer_id, "to": "period_end"},
            headers=auth(ADMIN_KEY),
        )
    )
    assert "invoice.paid" in renewed["events"]
    return await eventually(
        lambda: invoices_of(http, customer_id), lambda rows: len(rows) == invoices, timeout=WAIT
    )
