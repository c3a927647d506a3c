"""Planting differences for the reconciliation tests: an invoice only the engine has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Invoice
from tests.factories.customers import make_customer

GHOST_INVOICE = "in_ghost_engine_only"


async def plant_engine_only_invoice(
    sessions: SessionFactory, config: EngineConfig, *, customer_id: str | None = None
) -> str:
    """A paid invoice in the engine's mirror that the provider never issued, a day old (past
    any grace period); returns its customer's id."""
    customer_id = customer_id or await make_customer(sessions, config, status="active")
    created = datetime.now(UTC) - timedelta(days=1)
    async with sessions.begin() as session:
        session.add(
            Invoice(
                id=GHOST_INVOICE,
                customer_id=customer_id,
                status="paid",
                currency="usd",
                subtotal_cents=500,
                total_cents=500,
                amount_due_cents=500,
                amount_paid_cents=500,
                amount_remaining_cents=0,
                billing_reason="manual",
                lines=[],
                created_at=created,
                updated_at=created,
            )
        )
    return customer_id
