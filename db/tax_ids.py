"""The customers' tax ids (``customer_tax_ids``): the set a customer declared and, per id,
the provider's TaxId once copied there."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CustomerTaxId
from db.writes import insert_ignoring_conflict
from domain.tax.tax_ids import TaxId


async def tax_ids_of(session: AsyncSession, customer_id: str) -> list[CustomerTaxId]:
    rows = await session.execute(
        select(CustomerTaxId)
        .where(CustomerTaxId.customer_id == customer_id)
        .order_by(CustomerTaxId.id)
    )
    return list(rows.scalars())


async def add_tax_ids(
    session: AsyncSession, customer_id: str, tax_ids: Iterable[TaxId], *, now: datetime
) -> None:
    for tax_id in tax_ids:
        await insert_ignoring_conflict(
            session,
            CustomerTaxId,
            {
                "customer_id": customer_id,
                "type": tax_id.type,
                "value": tax_id.value,
                "country": tax_id.country,
                "created_at": now,
            },
            on=["customer_id", "type", "value"],
        )


async def remove_tax_ids(session: AsyncSession, row_ids: Iterable[int]) -> None:
    ids = list(row_ids)
    if ids:
        await session.execute(delete(CustomerTaxId).where(CustomerTaxId.id.in_(ids)))


async def set_provider_tax_id(session: AsyncSession, row_id: int, provider_tax_id: str) -> None:
    await session.execute(
        update(CustomerTaxId)
        .where(CustomerTaxId.id == row_id)
        .values(provider_tax_id=provider_tax_id)
    )
