"""The ledger row of an admin's region override (``PUT /v1/admin/customers/{id}/region``):
the region picks the price book a customer renews at, so who moved it, from what to what,
is recorded in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.ledger import append_ledger

REGION_OVERRIDDEN = "region_overridden"


async def record_region_override(
    session: AsyncSession,
    *,
    customer_id: str,
    actor: str,
    override: tuple[str | None, str | None],
    region: tuple[str | None, str | None],
    now: datetime,
) -> None:
    """``override`` and ``region``: (before, after); a null override follows the country."""
    await append_ledger(
        session,
        {
            "event_key": f"{REGION_OVERRIDDEN}:{customer_id}:{now.isoformat()}",
            "customer_id": customer_id,
            "kind": REGION_OVERRIDDEN,
            "actor": actor,
            "from_status": None,
            "to_status": None,
            "plan": None,
            "interval": None,
            "mrr_delta_cents": 0,
            "data": {
                "override": {"from": override[0], "to": override[1]},
                "region": {"from": region[0], "to": region[1]},
            },
            "occurred_at": now,
            "recorded_at": now,
        },
    )
