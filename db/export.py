"""Everything the engine holds about one customer, as plain JSON (GDPR access requests)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Base, Customer

# Section name in the export -> table. The simulator's sim_* tables stand in for the
# payment provider's own records and are not the engine's data.
SECTIONS = {
    "invoices": "invoices",
    "addons": "customer_addons",
    "limit_overrides": "limit_overrides",
    "usage_counters": "usage_counters",
    "usage_daily": "usage_daily",
    "usage_events": "usage_events",
    "usage_thresholds": "usage_threshold_crossings",
    "emails": "email_outbox",
    "notifications": "notifications",
    "webhook_events": "webhook_events",
    "ledger": "ledger_events",
    "churn_score": "churn_scores",
    "usage_group": "customer_usage_groups",
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


async def _rows(session: AsyncSession, table: Table, customer_id: str) -> list[dict[str, Any]]:
    order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
    result = await session.execute(
        select(table).where(table.c.customer_id == customer_id).order_by(*order)
    )
    return [{k: _plain(v) for k, v in row.items()} for row in result.mappings()]


async def customer_export(session: AsyncSession, customer_id: str) -> dict[str, Any] | None:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None
    profile_table = Customer.__table__
    profile = {c.name: _plain(getattr(customer, c.key)) for c in profile_table.columns}
    document: dict[str, Any] = {"customer_id": customer_id, "profile": profile}
    for section, table_name in SECTIONS.items():
        table = Base.metadata.tables[table_name]
        document[section] = await _rows(session, table, customer_id)
    return document
