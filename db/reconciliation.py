"""Reconciliation's reads of the engine's side (the invoice mirror, customers with a
provider subscription) and its recorded runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import insert_for
from db.models import Customer, Invoice, ReconciliationRun
from domain.reconciliation import EngineInvoice, EngineSubscription, Reconciliation


async def engine_invoices(session: AsyncSession) -> list[EngineInvoice]:
    rows = await session.execute(
        select(
            Invoice.id,
            Invoice.customer_id,
            Invoice.status,
            Invoice.currency,
            Invoice.total_cents,
            Invoice.amount_due_cents,
            Invoice.amount_paid_cents,
            Invoice.period_start,
            Invoice.period_end,
            Invoice.created_at,
        )
    )
    return [EngineInvoice(**row._asdict()) for row in rows.all()]


async def engine_subscriptions(session: AsyncSession) -> list[EngineSubscription]:
    rows = await session.execute(
        select(
            Customer.id.label("customer_id"),
            Customer.provider_customer_id,
            Customer.provider_subscription_id.label("subscription_id"),
            Customer.status,
            Customer.plan,
            Customer.interval,
            Customer.cancel_at_period_end,
            Customer.current_period_start,
            Customer.current_period_end,
        ).where(Customer.provider_subscription_id.is_not(None))
    )
    return [EngineSubscription(**row._asdict()) for row in rows.all()]


async def customers_by_provider_id(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(
        select(Customer.provider_customer_id, Customer.id).where(
            Customer.provider_customer_id.is_not(None)
        )
    )
    return {str(provider_id): customer_id for provider_id, customer_id in rows.all()}


async def record_run(
    session: AsyncSession,
    result: Reconciliation,
    *,
    run_key: str,
    trigger: str,
    provider: str,
    now: datetime,
) -> None:
    """Insert the run, or replace it when its key was recorded before (a retried activity
    compares again and keeps the latest answer)."""
    values = {
        "run_key": run_key,
        "trigger": trigger,
        "provider": provider,
        "as_of": result.as_of,
        "invoices_compared": result.invoices_compared,
        "subscriptions_compared": result.subscriptions_compared,
        "difference_count": len(result.differences),
        "differences": [d.as_json() for d in result.differences],
        "finished_at": now,
    }
    statement = insert_for(session)(ReconciliationRun).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["run_key"],
        set_={k: statement.excluded[k] for k in values if k != "run_key"},
    )
    await session.execute(statement)


async def latest_run(session: AsyncSession) -> ReconciliationRun | None:
    return await session.scalar(
        select(ReconciliationRun)
        .order_by(ReconciliationRun.as_of.desc(), ReconciliationRun.id.desc())
        .limit(1)
    )


async def run_by_key(session: AsyncSession, run_key: str) -> ReconciliationRun | None:
    return await session.scalar(
        select(ReconciliationRun).where(ReconciliationRun.run_key == run_key)
    )
